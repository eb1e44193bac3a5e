"""Reading users' text files (TSV, CSV, JSONL, JSON) with messages in the file's own terms.

Lines are read as bytes with a bound on their length and decoded one at a time, so a byte that is not
UTF-8 is reported by line, character and column name rather than by its offset in a read block; a UTF-8
byte-order mark (what Excel writes) is accepted; JSON errors read "starting at line 3, column 7", never
"starting at at line 3".
"""
from __future__ import annotations

import json
from typing import Iterator

from . import limits
from .errors import MedvizError

BOM = b"\xef\xbb\xbf"


def _column_of(prefix: str, delimiter: str | None, header: list[str] | None) -> str | None:
    if not delimiter or not header:
        return None
    idx = prefix.count(delimiter)
    return header[idx] if idx < len(header) else None


def utf8_error(raw: bytes, e: UnicodeDecodeError, *, path: str, line: int, delimiter: str | None = None,
               header: list[str] | None = None) -> MedvizError:
    """The message for a line that is not UTF-8: line, character, the column's name when known."""
    prefix = raw[:e.start].decode("utf-8", "replace")
    column = _column_of(prefix, delimiter, header)
    bad = raw[e.start:e.start + 1].hex()
    return MedvizError(f"is not UTF-8 text: byte 0x{bad} at character {len(prefix) + 1} of the line; save the file "
                       "as UTF-8", file=path, record=f"line {line}", field=column)


def lines(path: str, *, delimiter: str | None = None, max_line: int | None = None) -> Iterator[str]:
    """Decoded lines (newline kept) of a UTF-8 text file; the first line's BOM is dropped; each line is
    bounded (``MEDVIZ_MAX_TSV_LINE``). With ``delimiter``, a decoding error names the column from line 1."""
    max_line = max_line or limits.MAX_TSV_LINE
    try:
        f = open(path, "rb", buffering=1 << 20)
    except OSError as e:
        raise MedvizError(f"cannot read file ({e.strerror})", file=path) from None
    header = None
    with f:
        n = 0
        while True:
            raw = f.readline(max_line + 1)
            if not raw:
                return
            n += 1
            if len(raw) > max_line:
                raise MedvizError(f"line is longer than {limits.human_bytes(max_line)} (MEDVIZ_MAX_TSV_LINE); the "
                                  "file may be damaged", file=path, record=f"line {n}")
            if n == 1 and raw.startswith(BOM):
                raw = raw[len(BOM):]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise utf8_error(raw, e, path=path, line=n, delimiter=delimiter, header=header) from None
            if n == 1 and delimiter:
                header = [h.strip('"') for h in text.rstrip("\r\n").split(delimiter)]
            yield text


def locate_utf8_error(path: str, delimiter: str | None = None) -> MedvizError:
    """For readers that decode whole blocks (pandas): find the first bad byte again, by line and column."""
    try:
        for _ in lines(path, delimiter=delimiter):
            pass
    except MedvizError as e:
        return e
    return MedvizError("is not UTF-8 text; save the file as UTF-8", file=path)


def ends_with_newline(path: str) -> bool:
    with open(path, "rb") as f:
        f.seek(0, 2)
        if f.tell() == 0:
            return True
        f.seek(-1, 2)
        return f.read(1) == b"\n"


def decode(raw: bytes, *, path: str) -> str:
    """A whole file's bytes as text (BOM dropped); a bad byte is named by line and character."""
    if raw.startswith(BOM):
        raw = raw[len(BOM):]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        start = raw.rfind(b"\n", 0, e.start) + 1
        end = raw.find(b"\n", e.start)
        line = raw[start:end if end >= 0 else len(raw)]
        err = UnicodeDecodeError(e.encoding, line, e.start - start, e.end - start, e.reason)
        raise utf8_error(line, err, path=path, line=raw.count(b"\n", 0, e.start) + 1) from None


def json_error_text(e: json.JSONDecodeError) -> str:
    """``Expecting ',' delimiter at line 3, column 7``: the library's message with its position, no doubled
    "at" (its messages may end in "starting at")."""
    msg = e.msg.rstrip(": ")
    if msg.endswith(" at"):
        msg = msg[:-3]
    return f"{msg} at line {e.lineno}, column {e.colno}"


def parse_json(text: str, *, file: str, record: str | None = None, what: str = "is not valid JSON"):
    """Bounded ``json.loads`` (size, nesting) with a message naming line and column."""
    try:
        return limits.load_json(text, file=file, record=record)
    except json.JSONDecodeError as e:
        raise MedvizError(f"{what} ({json_error_text(e)})", file=file, record=record) from None
