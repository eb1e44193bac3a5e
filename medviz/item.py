"""One question about one image: the unit every benchmark is loaded into.

A MediConfusion pair becomes two Items (slot 1 and 2) sharing ``pair_id``; GMAI-MMBench and generic rows
become one Item each. ``options`` maps letters to option text, in letter order.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field


@dataclass
class Item:
    item_id: str
    question: str
    options: dict[str, str]
    answer: str | None                     # correct letter; None when the split withholds it (GMAI TEST)
    image_ref: str | None = None           # the benchmark's own name for the image (ROCO path, local id, index)
    image_path: str | None = None          # absolute path of the image file when present
    image_status: str = "missing"          # ok | missing
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


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()
