"""One question about one image: the unit every benchmark is loaded into.

A MediConfusion pair becomes two Items (slot 1 and 2) sharing ``pair_id``; GMAI-MMBench and generic rows
become one Item each. ``options`` maps letters to option text, in letter order.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass
class Item:
    item_id: str
    question: str
    options: dict[str, str]
    answer: str | None                     # correct letter; None when the split withholds it (GMAI TEST)
    image_ref: str | None = None           # the benchmark's own name for the image (ROCO path, local id, index)
    image_path: str | None = None          # the image file: absolute, or relative to the store's files folder
    image_status: str = "missing"          # ok | missing | unreadable
    image_reason: str | None = None        # why not ok, in the user's terms
    image_sha256: str | None = None
    pair_id: str | None = None
    slot: int | None = None                # 1 or 2 inside a pair
    modality: str | None = None
    categories: list[str] = field(default_factory=list)
    department: str | None = None
    task: str | None = None                # GMAI "clinical VQA task"
    granularity: str | None = None         # GMAI "perceptual granularity"
    caption: str | None = None
    extra: dict = field(default_factory=dict)

    def options_json(self) -> str:
        return json.dumps(self.options, ensure_ascii=False)
