"""Size bounds for every input medviz reads, in one place, with the checks that apply them.

Each limit has a default that fits the real benchmarks with room to spare and can be changed with an
environment variable of the same name prefixed ``MEDVIZ_`` (e.g. ``MEDVIZ_MAX_PIXELS=80000000``). The
README's "Limits" section lists them.
"""
from __future__ import annotations

import json
import os
import re
import unicodedata
import zipfile

from .errors import MedvizError


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(f"MEDVIZ_{name}")
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise MedvizError(f"environment variable MEDVIZ_{name} must be a whole number, found {quote(raw)}") from None
    if value <= 0:
        raise MedvizError(f"environment variable MEDVIZ_{name} must be positive, found {value}")
    return value


def quote(value, limit: int = 80) -> str:
    """``repr`` of a value for an error message, cut to ``limit`` characters with the full length said."""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text):,} characters)"


def clip(text: str, limit: int = 300) -> str:
    """A library's message, cut to ``limit`` characters (they may quote the whole offending input)."""
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def human_bytes(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} GiB"


MAX_PIXELS = _env_int("MAX_PIXELS", 40_000_000)              # per image (rows x columns x frames for DICOM)
MAX_IMAGE_BYTES = _env_int("MAX_IMAGE_BYTES", 256 << 20)     # one image file
MAX_XLSX_UNCOMPRESSED = _env_int("MAX_XLSX_UNCOMPRESSED", 128 << 20)  # sum of a spreadsheet's parts
MAX_XLSX_RATIO = _env_int("MAX_XLSX_RATIO", 200)             # uncompressed / compressed, per part
MAX_XLSX_CELLS = _env_int("MAX_XLSX_CELLS", 5_000_000)
MAX_JSON_BYTES = _env_int("MAX_JSON_BYTES", 512 << 20)       # a JSON benchmark or prediction file
MAX_JSON_DEPTH = _env_int("MAX_JSON_DEPTH", 64)              # nesting of objects/arrays
MAX_TSV_LINE = _env_int("MAX_TSV_LINE", 512 << 20)           # one TSV record (base64 image included)
MAX_TABLE_BYTES = _env_int("MAX_TABLE_BYTES", 1 << 30)      # a prediction or annotation file (CSV/TSV/xlsx/Parquet)
MAX_QUOTE = 80                                               # characters of a value an error message quotes
MAX_NAME = 255                                               # an uploaded file's name, in characters
MAX_PARAM = 200                                              # a URL query parameter (?pair=, ?item=)


def check_file_size(path: str, limit: int | None = None, *, what: str = "file") -> None:
    """Refuse a file over ``limit`` bytes (default ``MAX_TABLE_BYTES``) before any parser reads it."""
    limit = MAX_TABLE_BYTES if limit is None else limit
    try:
        size = os.path.getsize(path)
    except OSError:
        return                      # a missing file gets its own message from the reader
    if size > limit:
        raise MedvizError(f"{what} is {human_bytes(size)}; at most {human_bytes(limit)} "
                          f"(set MEDVIZ_MAX_TABLE_BYTES to raise the limit)", file=path)


# --- spreadsheets ---------------------------------------------------------------------------------------

_CELL = re.compile(rb"<(?:\w+:)?c[\s>/]")


def check_xlsx(path: str) -> None:
    """Refuse a spreadsheet whose parts would expand past the limits, before openpyxl parses anything.

    Reads the zip's central directory (declared sizes; Python's zipfile stops a part at its declared size,
    so a lying header fails its CRC instead of growing) and then streams each worksheet counting cells,
    a constant amount of memory whatever the content.
    """
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            total = sum(i.file_size for i in infos)
            if total > MAX_XLSX_UNCOMPRESSED:
                raise MedvizError(
                    f"spreadsheet would expand to {human_bytes(total)}, over the {human_bytes(MAX_XLSX_UNCOMPRESSED)} "
                    "limit (MEDVIZ_MAX_XLSX_UNCOMPRESSED); refusing to open it", file=path)
            for i in infos:
                if i.file_size > 1 << 20 and i.file_size > MAX_XLSX_RATIO * max(i.compress_size, 1):
                    raise MedvizError(
                        f"spreadsheet part {quote(i.filename)} compresses {i.file_size // max(i.compress_size, 1):,} "
                        f"to 1, over the {MAX_XLSX_RATIO} limit (a zip bomb?); refusing to open it", file=path)
            cells = 0
            for i in infos:
                if not (i.filename.startswith("xl/worksheets/") and i.filename.endswith(".xml")):
                    continue
                tail = b""
                with z.open(i) as f:
                    while True:
                        block = f.read(1 << 20)
                        if not block:
                            break
                        chunk = tail + block
                        cells += len(_CELL.findall(chunk))
                        tail = chunk[-8:]
                        cells -= len(_CELL.findall(tail))      # counted again with the next block
                        if cells > MAX_XLSX_CELLS:
                            raise MedvizError(f"spreadsheet has more than {MAX_XLSX_CELLS:,} cells "
                                              "(MEDVIZ_MAX_XLSX_CELLS); refusing to open it", file=path)
                cells += len(_CELL.findall(tail))
    except MedvizError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as e:
        raise MedvizError(f"is not a readable Excel .xlsx file ({clip(e, 120)})", file=path) from None


# --- JSON -----------------------------------------------------------------------------------------------

def json_depth_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when brackets outside strings nest deeper than ``limit`` (one pass, no recursion)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    in_str = esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def load_json(text: str, *, file: str, record: str | None = None):
    """``json.loads`` with the nesting bound and a message naming the place instead of a RecursionError."""
    if len(text) > MAX_JSON_BYTES:
        raise MedvizError(f"JSON is {human_bytes(len(text))}, over the {human_bytes(MAX_JSON_BYTES)} limit "
                          "(MEDVIZ_MAX_JSON_BYTES)", file=file, record=record)
    if json_depth_exceeds(text):
        raise MedvizError(f"JSON nests deeper than {MAX_JSON_DEPTH} levels (MEDVIZ_MAX_JSON_DEPTH); "
                          "benchmark and prediction files need at most a few", file=file, record=record)
    try:
        return json.loads(text)
    except RecursionError:      # belt and braces: the scan above should have caught it
        raise MedvizError("JSON nests too deeply to read", file=file, record=record) from None


# --- names and parameters from the browser --------------------------------------------------------------

def check_upload_name(name: str, extensions: tuple[str, ...] | None = None) -> str:
    """An uploaded file's name, refused when it could not be a real file name (NUL, control characters,
    path separators, longer than MAX_NAME) or, given ``extensions``, has another one; returns it unchanged."""
    if not isinstance(name, str) or not name.strip():
        raise MedvizError("the uploaded file has no name")
    if len(name) > MAX_NAME:
        raise MedvizError(f"the uploaded file's name is {len(name):,} characters long; the limit is {MAX_NAME}. "
                          f"Rename it ({quote(name, 40)}) and upload again")
    bad = [c for c in name if unicodedata.category(c) == "Cc" or c in "/\\"]
    if bad:
        raise MedvizError(f"the uploaded file's name contains {quote(''.join(sorted(set(bad))))}, which a file "
                          "name cannot hold; rename it and upload again")
    if extensions and not name.lower().endswith(tuple(extensions)):
        raise MedvizError(f"the uploaded file {quote(name, 60)} is not one of {', '.join(extensions)}")
    return name


def bounded_param(value, limit: int = MAX_PARAM) -> str | None:
    """A query parameter, or None when absent or longer than ``limit`` (then it is ignored, not searched)."""
    if value is None:
        return None
    value = str(value)
    if len(value) > limit or "\x00" in value:
        return None
    return value
