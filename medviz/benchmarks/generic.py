"""In-house benchmarks as CSV or JSONL.

Columns / keys: ``item_id, image_path, question, answer`` and options as ``A``..``Z`` (or ``option_A``..);
optional ``pair_id`` (+ ``slot`` 1/2, else order of appearance), ``modality``, ``category`` (``;``-separated
for several), ``department``, ``task``, ``granularity``, ``caption``. ``image_path`` is relative to the
images folder (default: the file's folder) and may not escape it.
"""
from __future__ import annotations

import csv
import os
import string

from .. import limits, textfiles
from ..errors import MedvizError
from ..images import ImageCheck, ImageFolder
from ..item import Item
from ..pair import Pair

REQUIRED = ("item_id", "question", "answer")


def _rows(path: str):
    if path.lower().endswith((".jsonl", ".ndjson")):
        for n, line in enumerate(textfiles.lines(path), start=1):
            if not line.strip():
                continue
            rec = textfiles.parse_json(line, file=path, record=f"line {n}", what="invalid JSON")
            if not isinstance(rec, dict):
                raise MedvizError("each line must be a JSON object", file=path, record=f"line {n}")
            yield f"line {n}", rec
    else:
        reader = csv.DictReader(textfiles.lines(path, delimiter=","))
        try:
            for rec in reader:
                yield f"line {reader.line_num}", rec
        except csv.Error as e:
            raise MedvizError(f"malformed CSV ({limits.clip(e, 160)})", file=path,
                              record=f"line {reader.line_num}") from None


def _s(v) -> str | None:
    if v is None:
        return None
    v = str(v).strip()
    return v or None


def load(path: str, images_dir: str | None = None) -> tuple[list[Item], list[Pair]]:
    folder = ImageFolder(images_dir or os.path.dirname(os.path.abspath(path)))
    items: list[Item] = []
    by_pair: dict[str, list[Item]] = {}
    seen: set[str] = set()
    checked: dict[str, ImageCheck] = {}   # image path -> result, so shared images are read once
    is_json = path.lower().endswith((".jsonl", ".ndjson"))
    for record, rec in _rows(path):
        for f in REQUIRED:
            if f not in rec:
                raise MedvizError("required field is missing", file=path, record=record, field=f)
            if rec[f] is None:
                raise MedvizError("required field is null" if is_json else "required field is missing",
                                  file=path, record=record, field=f)
            if _s(rec[f]) is None:
                raise MedvizError("required field is empty", file=path, record=record, field=f)
        item_id = _s(rec["item_id"])
        record = f"{record} (item {item_id})"
        if item_id in seen:
            raise MedvizError("duplicate item_id", file=path, record=record, field="item_id")
        seen.add(item_id)
        options = {}
        for ch in string.ascii_uppercase:
            v = _s(rec.get(ch, rec.get(f"option_{ch}")))
            if v is not None:
                options[ch] = v
        if len(options) < 2:
            raise MedvizError("needs at least two options (columns A, B, ... or option_A, option_B, ...)",
                              file=path, record=record, field="A")
        answer = _s(rec["answer"]).upper()
        if answer not in options:
            raise MedvizError(f"answer {limits.quote(answer)} is not one of the options {''.join(options)}", file=path,
                              record=record, field="answer")
        cats = rec.get("category") or rec.get("categories") or []
        if isinstance(cats, str):
            cats = [c.strip() for c in cats.split(";") if c.strip()]
        item = Item(item_id=item_id, question=_s(rec["question"]), options=options, answer=answer,
                    modality=_s(rec.get("modality")), categories=list(cats), department=_s(rec.get("department")),
                    task=_s(rec.get("task")), granularity=_s(rec.get("granularity")), caption=_s(rec.get("caption")))
        rel = _s(rec.get("image_path"))
        if rel:
            item.image_ref = rel
            res = checked.get(rel)
            if res is None:
                res = checked[rel] = folder.check(rel)
            item.image_status, item.image_reason, item.image_sha256 = res.status, res.reason, res.sha256
            item.image_path = res.path if res.status == "ok" else None
            if res.status == "missing":
                item.image_reason = f"no file {limits.quote(rel)} in the images folder"
        else:
            item.image_reason = "no image_path given"
        pid = _s(rec.get("pair_id"))
        if pid:
            item.pair_id = pid
            slot = _s(rec.get("slot"))
            item.slot = int(slot) if slot and slot in ("1", "2") else len(by_pair.get(pid, [])) + 1
            by_pair.setdefault(pid, []).append(item)
        items.append(item)
    if not items:
        raise MedvizError("contains no items", file=path)
    pairs = []
    for pid, members in by_pair.items():
        if len(members) != 2 or {m.slot for m in members} != {1, 2}:
            raise MedvizError(f"pair must have exactly two items with slots 1 and 2, found {len(members)}",
                              file=path, record=f"pair {pid}", field="pair_id")
        members.sort(key=lambda m: m.slot)
        pairs.append(Pair(pair_id=pid, item_1=members[0].item_id, item_2=members[1].item_id))
    return items, pairs
