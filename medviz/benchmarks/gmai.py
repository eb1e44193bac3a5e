"""GMAI-MMBench as VLMEvalKit ships it: a TSV with base64 images, streamed row by row.

Memory stays bounded whatever the file size: rows are parsed one at a time with the csv module, each image
is decoded, checked (header + end marker, pixel limit) and written to ``image_dir`` immediately, and items
are yielded to the caller, which writes them to the store in batches.

Options follow VLMEvalKit: every column named with one capital letter whose value is not NA as pandas
reads the file (``pandas`` default NA strings: '', 'None', 'NA', 'nan', ...).
"""
from __future__ import annotations

import binascii
import csv
import os
import string
import sys
from typing import Iterator

from .. import limits, textfiles
from ..errors import MedvizError
from ..images import check_bytes
from ..item import Item

# pandas' default NA strings (pandas._libs.parsers.STR_NA_VALUES), which VLMEvalKit inherits via read_csv.
PANDAS_NA = frozenset(['', '#N/A', '#N/A N/A', '#NA', '-1.#IND', '-1.#QNAN', '-NaN', '-nan', '1.#IND',
                       '1.#QNAN', '<NA>', 'N/A', 'NA', 'NULL', 'NaN', 'None', 'n/a', 'nan', 'null'])
REQUIRED = ("index", "question", "A")
GROUP_FIELDS = {"modality": "modality", "department": "department", "clinical VQA task": "task",
                "perceptual granularity": "granularity"}

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def is_na(value: str | None) -> bool:
    return value is None or value in PANDAS_NA


def _b64decode(text: str) -> bytes:
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except TypeError:  # Python < 3.11 has no strict_mode
        import base64
        return base64.b64decode(text, validate=True)


def _open_text(path: str):
    try:
        return open(path, "r", encoding="utf-8", newline="")
    except OSError as e:
        raise MedvizError(f"cannot read file ({e.strerror})", file=path) from None


def check_header(path: str, header: list[str], *, need_image: bool) -> None:
    missing = [c for c in REQUIRED if c not in header]
    if need_image and "image" not in header and "image_path" not in header:
        missing.append("image")
    if missing:
        raise MedvizError(f"missing required column(s) {', '.join(repr(m) for m in missing)}; "
                          f"found {', '.join(header[:20])}", file=path, field=missing[0])


def _records(f, path: str):
    """Yield (line number, fields) from a TSV, fast for the common shapes and exact for the rest.

    Lines without any quote character are split on tabs (what pandas' parser does for them); fully quoted
    lines (VLMEvalKit writes TSVs with QUOTE_ALL) are split on the quote-tab-quote separators; anything else,
    including quoted fields that span lines, goes through the csv module.
    """
    line_no = 0
    pending, start = None, 0
    for line in f:
        line_no += 1
        if pending is not None:
            pending += line
            if pending.count('"') % 2:
                continue
            line, pending = pending, None
        elif '"' in line:
            if line.count('"') % 2:           # a quoted field continues on the next line
                pending, start = line, line_no
                continue
            start = line_no
        else:
            yield line_no, line.rstrip("\r\n").split("\t")
            continue
        body = line.rstrip("\r\n")
        if len(body) >= 2 and body[0] == '"' and body[-1] == '"':
            parts = body[1:-1].split('"\t"')
            if all('"' not in p.replace('""', "") for p in parts):
                yield start, [p.replace('""', '"') for p in parts]
                continue
        try:
            rows = list(csv.reader([body], delimiter="\t", strict=True))
        except csv.Error as e:
            raise MedvizError(f"malformed TSV ({limits.clip(e, 160)})", file=path, record=f"line {start}") from None
        yield start, rows[0] if rows else []
    if pending is not None:
        raise MedvizError("the file looks truncated: it ends inside a quoted field that starts here", file=path,
                          record=f"line {start}")


def iter_rows(path: str, *, need_image: bool = True) -> Iterator[tuple[int, dict]]:
    """(line number, row dict) for each data row; errors name the line and the column."""
    records = _records(textfiles.lines(path, delimiter="\t"), path)
    try:
        _, header = next(records)
    except StopIteration:
        raise MedvizError("file is empty", file=path) from None
    check_header(path, header, need_image=need_image)
    width = len(header)
    for line_no, values in records:
        if not values or values == [""]:
            continue
        if len(values) != width:
            if len(values) < width and next(records, None) is None and not textfiles.ends_with_newline(path):
                raise MedvizError(f"the file looks truncated: its last line stops after {len(values)} of "
                                  f"{width} columns (in column {limits.quote(header[len(values) - 1])})",
                                  file=path, record=f"line {line_no}")
            raise MedvizError(f"row has {len(values)} columns, header has {width}", file=path,
                              record=f"line {line_no}")
        yield line_no, dict(zip(header, values))


def _with_last(rows):
    """(line, row, is_last) for each row: a one-row look-ahead."""
    prev = None
    for line, row in rows:
        if prev is not None:
            yield (*prev, False)
        prev = (line, row)
    if prev is not None:
        yield (*prev, True)


def options_of(row: dict) -> dict[str, str]:
    return {ch: row[ch] for ch in string.ascii_uppercase if ch in row and not is_na(row[ch])}


def row_to_item(row: dict, record: str) -> Item:
    idx = row["index"]
    options = options_of(row)
    answer = row.get("answer")
    answer = None if is_na(answer) else answer
    item = Item(item_id=str(idx), question=row["question"], options=options, answer=answer,
                image_ref=str(idx), categories=[row["category"]] if not is_na(row.get("category")) else [])
    for col, attr in GROUP_FIELDS.items():
        v = row.get(col)
        setattr(item, attr, None if is_na(v) else v)
    return item


def load(path: str, images=None, *, progress=None) -> Iterator[Item]:
    """Yield Items; when ``images`` (an ``ImageSink``) is given, check each row's image once and store it.

    A bad image never stops the load: the item gets status ``unreadable`` and the reason."""
    seen_images: dict[str, tuple[str, str]] = {}
    size = os.path.getsize(path) if os.path.exists(path) else 0
    cut = not textfiles.ends_with_newline(path)
    done = 0
    for line, row, last in _with_last(iter_rows(path, need_image=images is not None)):
        record = f"index {row.get('index')} (line {line})"
        item = row_to_item(row, record)
        if not item.options:
            raise MedvizError("row has no options (columns A..Z all empty)", file=path, record=record, field="A")
        if item.answer is not None and item.answer not in item.options:
            raise MedvizError(f"answer {limits.quote(item.answer)} is not one of the options {''.join(item.options)}",
                              file=path, record=record, field="answer")
        if images is not None:
            b64 = row.get("image")
            if b64 is None:
                item.image_ref = row.get("image_path")
                item.image_reason = "the TSV has an 'image_path' column, not base64 images; only those are stored"
            elif len(b64) < 16 and is_na(b64):     # never hash a megabyte of base64 for this
                item.image_reason = "the 'image' column is empty"
            elif len(b64) <= 64 and b64.strip() in seen_images:
                # VLMEvalKit convention: a short value refers to the row whose index it names
                item.image_path, item.image_sha256 = seen_images[b64.strip()]
                item.image_status = "ok"
            else:
                try:
                    data = _b64decode(b64)
                except (binascii.Error, ValueError):
                    item.image_status, item.image_reason = "unreadable", "not an image: the 'image' column is not valid base64"
                else:
                    res = check_bytes(data)
                    item.image_status, item.image_reason = res.status, res.reason
                    if res.status == "ok":
                        item.image_path, item.image_sha256 = images.put(data, res.sha256, res.fmt), res.sha256
                        seen_images[item.item_id] = (item.image_path, item.image_sha256)
            if last and cut and item.image_status == "unreadable" and list(row)[-1] == "image":
                raise MedvizError("the file looks truncated: its last line has no line end and stops inside the "
                                  f"'image' column ({item.image_reason})", file=path, record=record, field="image")
        if progress is not None:
            step = sum(len(v) + 1 for v in row.values())
            done += step
            progress(min(done, size), size)
        yield item
