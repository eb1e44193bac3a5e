"""The Review page: one pair (or single item) with every model's answers, stepping through a queue of units,
and the one "next untagged error" queue that the N key, "save and next" and the prefetch all follow."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import pandas as pd

from .. import scoring
from ..errors import MedvizError
from ..images import sniff_format
from ..store import core
from ..store import views as sqlv


@dataclass
class Answer:
    model: str
    raw: str | None
    parsed: str | None
    correct: bool | None
    synthetic: bool


@dataclass
class Slot:
    item_id: str
    slot: int
    question: str
    options: dict[str, str]
    answer: str | None
    image_path: str | None
    image_ref: str | None
    image_ok: bool
    is_dicom: bool
    modality: str | None
    categories: list[str]
    department: str | None
    answers: list[Answer]
    image_status: str = "ok"            # ok | missing | unreadable (recorded at ingest)
    image_reason: str | None = None     # why not ok, shown in the image's place
    caption: str | None = None           # the benchmark's own caption (MediConfusion: ROCO's cap_1 / cap_2)


@dataclass
class UnitView:
    benchmark_id: str
    unit_id: str
    is_pair: bool
    slots: list[Slot]
    biomedclip_sim: float | None = None
    dino_sim: float | None = None
    kind: str | None = None              # benchmark kind and images folder: where missing images come from
    images_dir: str | None = None
    confused: list[str] | None = None    # confused_models(), computed once when the view is built

    def confused_models(self) -> list[str]:
        """Models that gave the same letter for both images of the pair (image-blind on this pair); computed
        once per view (``unit_view`` does it, so a cached view costs nothing on the next page run)."""
        if self.confused is None:
            self.confused = self._confused()
        return list(self.confused)

    def _confused(self) -> list[str]:
        if len(self.slots) != 2:
            return []
        first = {x.model: x.parsed for x in self.slots[0].answers}
        second = {x.model: x.parsed for x in self.slots[1].answers}
        models = sorted(set(first) & set(second))
        same = scoring.same_answer([first[m] for m in models], [second[m] for m in models]) if models else []
        return [m for m, s in zip(models, same) if s]


def _is_dicom(path: str | None) -> bool:
    if not path or not os.path.exists(path):
        return False
    with open(path, "rb") as f:
        return sniff_format(f.read(132)) == "dicom"


def unit_view(store, benchmark_id: str, unit_id: str, models: list[str] | None = None) -> UnitView:
    """Everything the Review page shows about a pair (or a single item); MedvizError when unknown."""
    cur = store.cursor()
    items = sqlv.unit_items(cur, benchmark_id, unit_id)
    if items.empty:
        raise MedvizError(f"no pair or item '{unit_id}' in benchmark '{benchmark_id}'", record=unit_id)
    preds = sqlv.unit_predictions(cur, benchmark_id, list(items["item_id"]), models)
    slots = []
    for _, it in items.iterrows():
        ps = preds[preds["item_id"] == it["item_id"]]
        answers = [Answer(model=p.model, raw=None if pd.isna(p.raw) else p.raw,
                          parsed=None if pd.isna(p.parsed) else p.parsed,
                          correct=None if pd.isna(p.correct) else bool(p.correct), synthetic=bool(p.synthetic))
                   for p in ps.itertuples()]
        path = None if pd.isna(it["image_path"]) else store.image_file(it["image_path"])
        status = it.get("image_status") or "missing"
        reason = it.get("image_reason")
        slots.append(Slot(
            item_id=it["item_id"], slot=1 if pd.isna(it["slot"]) else int(it["slot"]), question=it["question"],
            options=json.loads(it["options"]) if it["options"] else {},
            answer=None if pd.isna(it["answer"]) else it["answer"], image_path=path,
            image_ref=None if pd.isna(it["image_ref"]) else it["image_ref"],
            image_ok=bool(path) and os.path.exists(path), is_dicom=_is_dicom(path),
            modality=None if pd.isna(it["modality"]) else it["modality"],
            categories=list(it["categories"]) if it["categories"] is not None else [],
            department=None if pd.isna(it["department"]) else it["department"], answers=answers,
            image_status=status, image_reason=None if reason is None or pd.isna(reason) else reason,
            caption=None if pd.isna(it["caption"]) else it["caption"]))
    pair = core.pair(cur, benchmark_id, unit_id)
    bench = core.benchmark(cur, benchmark_id) or {}
    images_dir = bench.get("images_dir")
    uv = UnitView(benchmark_id=benchmark_id, unit_id=unit_id, is_pair=pair is not None, slots=slots,
                  kind=bench.get("kind"), images_dir=None if images_dir is None or pd.isna(images_dir) else images_dir)
    if pair is not None:
        uv.biomedclip_sim = None if pd.isna(pair["biomedclip_sim"]) else float(pair["biomedclip_sim"])
        uv.dino_sim = None if pd.isna(pair["dino_sim"]) else float(pair["dino_sim"])
    uv.confused_models()
    return uv


def neighbour(ids: list[str], current: str | None, step: int) -> str | None:
    """The id ``step`` places from ``current`` in ``ids`` (wrapping); the first id when current is absent."""
    if not ids:
        return None
    if current not in ids:
        return ids[0]
    return ids[(ids.index(current) + step) % len(ids)]


def next_untagged(error_ids: list[str], tagged_units: set[str], current: str | None) -> str | None:
    """The "next untagged error" queue: the first of ``error_ids`` (units where a selected model is not fully
    right, in id order) after ``current`` that nobody has tagged, wrapping to the first; None when empty."""
    ids = [u for u in error_ids if u not in tagged_units]
    if not ids:
        return None
    after = [u for u in ids if current is None or u > current]
    return after[0] if after else ids[0]


def next_untagged_error(store, benchmark_id: str, models: list[str] | None, current: str | None,
                        tagged_units: set[str]) -> str | None:
    """``next_untagged`` over the store's error units for ``models`` (the Errors page's default filter)."""
    return next_untagged(sqlv.error_unit_ids(store.cursor(), benchmark_id, models, {"outcome": "error"}),
                         tagged_units, current)
