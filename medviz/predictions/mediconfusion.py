"""MediConfusion's own output: ``Results/<model>/<model>_<mode>.json``.

``{pair_id: {"answer": {"im1": {"full_answer": str|null, "A": score, "B": score, ...}, "im2": {...}},
"score": {...}}}``. Judge scores (``A``/``B``, e.g. gpt4 mode) are kept and used for scoring; otherwise the
letter is parsed from ``full_answer``.
"""
from __future__ import annotations

import os

import pandas as pd

from ..benchmarks.mediconfusion import read_dataset
from .. import limits
from ..errors import MedvizError
from . import PREDICTION_COLUMNS

MODES = ("mc", "greedy", "prefix", "gpt4")


def model_and_mode(path: str) -> tuple[str, str | None]:
    """(model, mode) from MediConfusion's layout ``Results/<model>/<model>_<mode>.json``: the file name
    without its ``_<mode>`` (``mc``, ``greedy``, ``prefix``, ``gpt4``); for another mode, the folder's name
    when the file is named after it (the rest is the mode). The mode is kept apart from the name.
    ``llava_mc.json`` -> ("llava", "mc"); ``Results/llava-v1.5/llava-v1.5_gpt4.json`` -> ("llava-v1.5", "gpt4")."""
    stem = os.path.splitext(os.path.basename(path))[0]
    head, _, tail = stem.rpartition("_")
    if head and tail in MODES:
        return head, tail
    folder = os.path.basename(os.path.dirname(os.path.abspath(path)))
    if folder and stem.startswith(folder + "_") and len(stem) > len(folder) + 1:
        return folder, stem[len(folder) + 1:]
    return stem, None


def _num(v, path, record, field):
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise MedvizError(f"judge score must be a number, found {limits.quote(v)}", file=path, record=record, field=field)
    return float(v)


def read(path: str, model: str | None = None) -> tuple[pd.DataFrame, str | None]:
    data = read_dataset(path)          # same UTF-8 / JSON checks as the benchmark file
    name, mode = model_and_mode(path)
    model = model or name
    rows = []
    for pid, rec in data.items():
        if not isinstance(rec, dict) or not isinstance(rec.get("answer"), dict):
            raise MedvizError("expected an object with an 'answer' object", file=path, record=pid, field="answer")
        for n in (1, 2):
            slot = rec["answer"].get(f"im{n}")
            if not isinstance(slot, dict):
                raise MedvizError("missing answer for this image", file=path, record=pid, field=f"answer.im{n}")
            full = slot.get("full_answer")
            if full is not None and not isinstance(full, str):
                raise MedvizError(f"must be text or null, found {type(full).__name__}", file=path, record=pid,
                                  field=f"answer.im{n}.full_answer")
            a = _num(slot.get("A"), path, pid, f"answer.im{n}.A")
            b = _num(slot.get("B"), path, pid, f"answer.im{n}.B")
            if (a is None) != (b is None):
                raise MedvizError("has a score for one letter only", file=path, record=pid, field=f"answer.im{n}")
            log = slot.get("gpt_reason")
            rows.append((f"{pid}-{n}", model, full, a, b, None, log, None))
    return pd.DataFrame(rows, columns=PREDICTION_COLUMNS), mode
