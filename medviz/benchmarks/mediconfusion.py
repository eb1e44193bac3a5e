"""MediConfusion ``dataset.json`` (+ optional images folder) -> Items and Pairs.

Each pair id (e.g. "10001") becomes items "10001-1" and "10001-2" sharing the question and options, each
with its own correct letter, caption and categories. Images are looked up as ``<images_dir>/<im_N_local>.jpg``
(what the benchmark's download script writes); a missing image is normal and recorded as missing.
"""
from __future__ import annotations

import json
import re

from .. import limits, textfiles
from ..errors import MedvizError
from ..images import ImageFolder
from ..item import Item
from ..pair import Pair

REQUIRED = ("question", "option_A", "option_B", "im_1_correct", "im_2_correct")
SLOT_FIELDS = ("im_{n}", "im_{n}_local", "cap_{n}", "category_{n}")

# Keyword rules for a coarse modality label; MediConfusion itself has none (its categories are anatomical).
_MODALITY_RULES = [
    ("Angiography", r"angiogra|\bdsa\b|subtraction"),
    ("CT", r"\bct\b|computed tomograph|\bcta\b|hounsfield"),
    ("MRI", r"\bmri?\b|magnetic resonance|t1|t2|flair|diffusion"),
    ("Ultrasound", r"ultraso|sonograph|doppler|echocardio"),
    ("Nuclear medicine", r"\bpet\b|spect|scintigra|\bbone scan"),
    ("X-ray", r"x-ray|radiograph|\bxr\b|fluoroscop|mammogra"),
    ("Fundus photography", r"fundus|retina"),
]


def modality_from_caption(caption: str | None) -> str:
    text = (caption or "").lower()
    for name, pattern in _MODALITY_RULES:
        if re.search(pattern, text):
            return name
    return "Radiology (unspecified)"


def read_dataset(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            raw = f.read(limits.MAX_JSON_BYTES + 1)
    except OSError as e:
        raise MedvizError(f"cannot read file ({e.strerror})", file=path) from None
    text = textfiles.decode(raw, path=path)
    try:
        data = limits.load_json(text, file=path)
    except json.JSONDecodeError as e:
        cut = e.pos >= len(text.rstrip()) or e.msg.startswith("Unterminated")
        raise MedvizError(f"is not valid JSON ({textfiles.json_error_text(e)})"
                          + ("; the file looks truncated" if cut else ""), file=path) from None
    if not isinstance(data, dict):
        raise MedvizError("expected a JSON object mapping pair ids to pairs", file=path)
    return data


def _check_pair(path: str, pid: str, rec) -> None:
    if not isinstance(rec, dict):
        raise MedvizError("pair is not a JSON object", file=path, record=pid)
    for f in REQUIRED:
        if f not in rec:
            raise MedvizError("required field is missing", file=path, record=pid, field=f)
        if rec[f] is None:
            raise MedvizError("required field is null", file=path, record=pid, field=f)
    for f in ("im_1_correct", "im_2_correct"):
        if rec[f] not in ("A", "B"):
            raise MedvizError(f"must be 'A' or 'B', found {limits.quote(rec[f])}", file=path, record=pid, field=f)
    for n in (1, 2):
        cats = rec.get(f"category_{n}", [])
        if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats):
            raise MedvizError("must be a list of category names", file=path, record=pid, field=f"category_{n}")
    for f in ("BiomedCLIP_sim", "DINO_sim"):
        v = rec.get(f)
        if v is not None and not isinstance(v, (int, float)):
            raise MedvizError(f"must be a number, found {limits.quote(v)}", file=path, record=pid, field=f)


def load(path: str, images_dir: str | None = None) -> tuple[list[Item], list[Pair]]:
    data = read_dataset(path)
    folder = ImageFolder(images_dir) if images_dir else None
    items: list[Item] = []
    pairs: list[Pair] = []
    for pid, rec in data.items():
        _check_pair(path, pid, rec)
        options = {"A": str(rec["option_A"]), "B": str(rec["option_B"])}
        ids = []
        for n in (1, 2):
            local = rec.get(f"im_{n}_local")
            item_id = f"{pid}-{n}"
            image_path, status, digest = None, "missing", None
            if folder is None:
                reason = "no images folder was given (--images)"
            elif local is None:
                reason = f"the pair has no im_{n}_local"
            else:
                res = folder.check(f"{local}.jpg")
                status, reason, digest = res.status, res.reason, res.sha256
                image_path = res.path if res.status == "ok" else None
                if res.status == "missing":
                    reason = f"no file {limits.quote(f'{local}.jpg')} in the images folder"
            caption = (rec.get(f"cap_{n}") or "").strip() or None
            items.append(Item(
                item_id=item_id, question=str(rec["question"]), options=options, answer=rec[f"im_{n}_correct"],
                image_ref=str(local) if local is not None else rec.get(f"im_{n}"), image_path=image_path,
                image_status=status, image_reason=reason, image_sha256=digest, pair_id=str(pid), slot=n,
                modality=modality_from_caption(caption), categories=list(rec.get(f"category_{n}", [])),
                caption=caption,
                extra={"roco_path": rec.get(f"im_{n}"), "local_id": local, "modality_source": "caption keywords"},
            ))
            ids.append(item_id)
        pairs.append(Pair(
            pair_id=str(pid), item_1=ids[0], item_2=ids[1],
            biomedclip_sim=rec.get("BiomedCLIP_sim"), dino_sim=rec.get("DINO_sim"),
            ai_question=rec.get("AI_question"), ai_option_a=rec.get("AI_option_A"),
            ai_option_b=rec.get("AI_option_B"),
        ))
    if not pairs:
        raise MedvizError("contains no pairs", file=path)
    return items, pairs


def category_counts(items: list[Item]) -> dict[str, int]:
    """Per-slot category counts: the official per-category denominators (statistics.json)."""
    out: dict[str, int] = {}
    for it in items:
        for c in it.categories:
            out[c] = out.get(c, 0) + 1
    return out
