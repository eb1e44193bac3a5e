"""One model's answer to one item. The raw text is always kept; the letter is derived from it."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Prediction:
    item_id: str
    model: str
    raw: str | None                 # the model's full answer text (None if the model produced nothing)
    score_a: float | None = None    # MediConfusion judge / likelihood scores when the Results file has them
    score_b: float | None = None
    hit: int | None = None          # VLMEvalKit judged result (``hit`` column), kept verbatim
    log: str | None = None          # VLMEvalKit judge log
