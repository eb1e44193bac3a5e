"""Example annotations for ``medviz demo`` so statistics, agreement and export are not empty on first run.

They are SYNTHETIC: written by code from the demo models' measured answers (e.g. "same letter for both
images" -> "Image ignored"), by reviewers named ``example (synthetic)`` and ``example 2 (synthetic)``.
They are not a clinician's judgement.
"""
from __future__ import annotations

from .. import scoring
from ..auth import file_owner
from ..store import core
from ..store import annotations as sql
from .identity import SYNTHETIC_REVIEWER
from .model import Annotation
from .queries import current_annotations
from .writer import close_writer, get_writer

SECOND_REVIEWER = "example 2 (synthetic)"
NOTE = "SYNTHETIC example written by `medviz demo` from the model's answers; not a clinician's judgement. "
MC, GMAI = "sample-mediconfusion", "sample-gmai"
IGNORED = "Visual confusion/Image ignored"


def _examples(store) -> list[Annotation]:
    cur = store.cursor()
    out: list[Annotation] = []
    have = set(core.benchmarks(cur)["benchmark_id"])
    if MC in have:
        pa_ = sql.pair_answers(cur, MC)
        blind = pa_[scoring.same_answer(pa_["parsed_1"], pa_["parsed_2"])]
        for i, r in enumerate(blind[blind["model"] == "image-blind-baseline"].head(4).itertuples()):
            why = f"{NOTE}Same answer {r.parsed_1} for both images of the pair."
            out.append(Annotation(MC, "pair", r.pair_id, [IGNORED], SYNTHETIC_REVIEWER, model=r.model,
                                  rationale=why, confidence=4))
            if i < 3:   # a second synthetic reviewer on three pairs: one disagreement for the queue
                tags = [IGNORED] if i < 2 else [IGNORED, "Visual confusion/Location or laterality"]
                out.append(Annotation(MC, "pair", r.pair_id, tags, SECOND_REVIEWER, model=r.model,
                                      rationale=why, confidence=3))
        free = pa_[pa_["model"] == "synthetic-freetext (hand-written)"]
        invalid = free[free["parsed_1"].isna() | free["parsed_2"].isna()].head(2)
        for r in invalid.itertuples():
            out.append(Annotation(MC, "pair", r.pair_id, ["Irrelevant response"], SYNTHETIC_REVIEWER, model=r.model,
                                  rationale=NOTE + "No option letter could be read from the answer.", confidence=3))
    if GMAI in have:
        f = core.scoring_frame(cur, GMAI)
        wrong = f[f["parsed"].notna() & (f["parsed"] != f["answer"])].sort_values(["model", "item_id"]).head(3)
        for r in wrong.itertuples():
            out.append(Annotation(GMAI, "item", r.item_id, ["Perceptual error/Misinterpretation"], SYNTHETIC_REVIEWER,
                                  model=r.model, confidence=2,
                                  rationale=NOTE + f"Answered {r.parsed}, key is {r.answer}."))
    return out


def demo_hook(store) -> int:
    """Add the synthetic example annotations once (skipped if the demo reviewer already has some)."""
    if len(current_annotations(store, reviewer=SYNTHETIC_REVIEWER)):
        return 0
    writer = get_writer(store)
    owner = file_owner()            # `medviz demo` runs on the file: an admin adds them under the synthetic names
    try:
        for a in _examples(store):
            writer.save(a, owner)
        n = len(current_annotations(store, reviewer=SYNTHETIC_REVIEWER))
        n2 = len(current_annotations(store, reviewer=SECOND_REVIEWER))
    finally:
        close_writer(store)
    print(f"example annotations (synthetic): {n} by '{SYNTHETIC_REVIEWER}', {n2} by '{SECOND_REVIEWER}'")
    return n + n2
