"""A MediConfusion-style pair: one question, two images, different correct options."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Pair:
    pair_id: str
    item_1: str
    item_2: str
    biomedclip_sim: float | None = None    # similarity the benchmark authors computed (BiomedCLIP)
    dino_sim: float | None = None          # ... and under DINOv2
    ai_question: str | None = None         # LLM draft before the radiologist's revision
    ai_option_a: str | None = None
    ai_option_b: str | None = None
    extra: dict = field(default_factory=dict)
