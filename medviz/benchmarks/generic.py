"""In-house benchmarks as CSV or JSONL.

Columns / keys: ``item_id, image_path, question, answer`` and options as ``A``..``Z`` (or ``option_A``..);
optional ``pair_id`` (+ ``slot`` 1/2, else order of appearance), ``modality``, ``category`` (``;``-separated
for several), ``department``, ``task``, ``granularity``, ``caption``. ``image_path`` is relative to the
images folder (default: the file's folder) and may not escape it.
"""
from __future__ import annotations

import csv
import json
import os
import string

import pyarrow as pa
import pyarrow.compute as pc

from .. import limits, textfiles
from ..errors import MedvizError
from ..images import ImageFolder
from ..store.core import ITEM_COLUMNS, ITEM_COLUMNS_SCHEMA, item_columns_batch, option_list
from ..pair import Pair

REQUIRED = ("item_id", "question", "answer")
CHUNK = 4096


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
    v = (v if v.__class__ is str else str(v)).strip()
    return v or None


def _option_keys(keys) -> list[tuple[str, str]]:
    """(letter, the record's key for it) in letter order: ``A`` if the record has it, else ``option_A``."""
    return [(ch, ch if ch in keys else f"option_{ch}") for ch in string.ascii_uppercase
            if ch in keys or f"option_{ch}" in keys]


def load(path: str, images_dir: str | None = None) -> tuple[pa.Table, list[Pair]]:
    """The items as an Arrow table (``medviz.store.core.ITEM_COLUMNS_SCHEMA``: built as columns, moved to Arrow
    every CHUNK rows; no object per item) and the pairs. Every row is checked; the first problem raises MedvizError naming the file, line and field."""
    folder = ImageFolder(images_dir or os.path.dirname(os.path.abspath(path)))
    cols: dict[str, list] = {name: [] for name in ITEM_COLUMNS}
    by_pair: dict[str, list[tuple[int, str]]] = {}
    seen: set[str] = set()
    option_keys: dict[tuple, list[tuple[str, str]]] = {}   # per set of record keys (one for a CSV)
    is_json = path.lower().endswith((".jsonl", ".ndjson"))
    batches: list[pa.RecordBatch] = []
    (c_item, c_pair, c_slot, c_question, c_options, c_n_options, c_answer, c_ref, _, _, _,
     _, c_modality, c_categories, c_department, c_task, c_granularity, c_caption, c_extra, c_option_list) = (
        cols[name] for name in ITEM_COLUMNS)
    for line, rec in _rows(path):
        required = []
        for f in REQUIRED:
            if f not in rec:
                raise MedvizError("required field is missing", file=path, record=line, field=f)
            if rec[f] is None:
                raise MedvizError("required field is null" if is_json else "required field is missing",
                                  file=path, record=line, field=f)
            v = _s(rec[f])
            if v is None:
                raise MedvizError("required field is empty", file=path, record=line, field=f)
            required.append(v)
        item_id, question, answer = required
        if item_id in seen:
            raise MedvizError("duplicate item_id", file=path, record=f"{line} (item {item_id})", field="item_id")
        seen.add(item_id)
        shape = tuple(rec)
        keys = option_keys.get(shape)
        if keys is None:
            keys = option_keys[shape] = _option_keys(set(shape))
        options = {}
        for ch, key in keys:
            v = _s(rec[key])
            if v is not None:
                options[ch] = v
        if len(options) < 2:
            raise MedvizError("needs at least two options (columns A, B, ... or option_A, option_B, ...)",
                              file=path, record=f"{line} (item {item_id})", field="A")
        answer = answer.upper()
        if answer not in options:
            raise MedvizError(f"answer {limits.quote(answer)} is not one of the options {''.join(options)}", file=path,
                              record=f"{line} (item {item_id})", field="answer")
        cats = rec.get("category") or rec.get("categories") or []
        if isinstance(cats, str):
            cats = [c.strip() for c in cats.split(";") if c.strip()]
        rel = _s(rec.get("image_path"))
        pid = _s(rec.get("pair_id"))
        slot = None
        if pid:
            s_ = _s(rec.get("slot"))
            slot = int(s_) if s_ and s_ in ("1", "2") else len(by_pair.get(pid, [])) + 1
            by_pair.setdefault(pid, []).append((slot, item_id))
        c_item.append(item_id)
        c_pair.append(pid or None)
        c_slot.append(slot)
        c_question.append(question)
        c_options.append(_options_json(options))
        c_n_options.append(len(options))
        c_answer.append(answer)
        c_ref.append(rel)
        c_modality.append(_s(rec.get("modality")))
        c_categories.append(list(cats))
        c_department.append(_s(rec.get("department")))
        c_task.append(_s(rec.get("task")))
        c_granularity.append(_s(rec.get("granularity")))
        c_caption.append(_s(rec.get("caption")))
        c_extra.append(None)
        c_option_list.append(option_list(options))
        if len(c_item) == CHUNK:
            batches.append(_batch(cols))
    if c_item:
        batches.append(_batch(cols))
    if not batches:
        raise MedvizError("contains no items", file=path)
    pairs = []
    for pid, members in by_pair.items():
        if len(members) != 2 or {slot for slot, _ in members} != {1, 2}:
            raise MedvizError(f"pair must have exactly two items with slots 1 and 2, found {len(members)}",
                              file=path, record=f"pair {pid}", field="pair_id")
        members.sort(key=lambda m: m[0])
        pairs.append(Pair(pair_id=pid, item_1=members[0][1], item_2=members[1][1]))
    table = pa.Table.from_batches(batches, ITEM_COLUMNS_SCHEMA)
    del batches
    return _with_images(table, folder), pairs


_IMAGE_COLUMNS = ("image_path", "image_status", "image_sha256", "image_reason")   # filled after the rows


def _batch(cols: dict[str, list]) -> pa.RecordBatch:
    """The rows gathered so far as one Arrow batch (image columns empty until ``_with_images``); clears them."""
    n = len(cols["item_id"])
    for name in _IMAGE_COLUMNS:
        cols[name] = [None] * n
    batch = item_columns_batch(cols)
    for c in cols.values():
        c.clear()
    return batch


def _with_images(table: pa.Table, folder: ImageFolder) -> pa.Table:
    """Check each distinct ``image_path`` once (after every row passed: a bad row costs no image reads) and
    fill the image columns: the file read once, validated and hashed (``ImageFolder.check``)."""
    enc = pc.dictionary_encode(table.column("image_ref").combine_chunks())
    distinct = enc.dictionary
    found: dict[str, list] = {name: [] for name in _IMAGE_COLUMNS}   # Arrow chunks, per distinct path
    for start in range(0, len(distinct), CHUNK):   # a chunk of Python objects at a time: a flat peak
        paths, status, sha, reason = [], [], [], []
        for rel in distinct.slice(start, CHUNK).to_pylist():
            res = folder.check(rel)
            status.append(res.status)
            sha.append(res.sha256)
            paths.append(res.path if res.status == "ok" else None)
            reason.append(f"no file {limits.quote(rel)} in the images folder" if res.status == "missing"
                          else res.reason)
        for name, values in zip(_IMAGE_COLUMNS, (paths, status, sha, reason)):
            found[name].append(pa.array(values, pa.string()))
    per = {name: pa.concat_arrays(chunks) if chunks else pa.array([], pa.string()) for name, chunks in found.items()}
    idx, given = enc.indices, pc.is_valid(enc.indices)
    cols = {"image_path": per["image_path"].take(idx),
            "image_status": pc.if_else(given, per["image_status"].take(idx), "missing"),
            "image_sha256": per["image_sha256"].take(idx),
            "image_reason": pc.if_else(given, per["image_reason"].take(idx), "no image_path given")}
    for name, col in cols.items():
        table = table.set_column(table.schema.get_field_index(name), ITEM_COLUMNS_SCHEMA.field(name), col)
    return table


_json_str = json.encoder.encode_basestring      # what json.dumps(..., ensure_ascii=False) writes for a str


def _options_json(options: dict[str, str]) -> str:
    """``json.dumps(options, ensure_ascii=False)`` for letter keys and string values, without the encoder's
    per-call set-up (a tenth of the load at 100k rows)."""
    return "{" + ", ".join(f'"{k}": {_json_str(v)}' for k, v in options.items()) + "}"
