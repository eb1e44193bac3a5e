"""Safe image handling: containment, decompression-bomb guard, truncation checks, DICOM windowing.

Validation at ingest reads headers and the end marker only (no full decode), so it costs little even for
the 9 GB GMAI-MMBench TSV; display-time loading decodes fully and converts DICOM with a window/level.
"""
from __future__ import annotations

import io
import os
import struct
import warnings

import numpy as np
from PIL import Image, ImageFile

from .errors import MedvizError

MAX_PIXELS = 40_000_000          # 40 MP: larger than any radiograph we expect; beyond it we refuse
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
ImageFile.LOAD_TRUNCATED_IMAGES = False

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8"
DICOM_MAGIC_OFFSET = 128

# Window/level presets (centre, width) in Hounsfield units for CT, relative for others.
WINDOW_PRESETS = {
    "auto": None,
    "CT brain": (40, 80),
    "CT soft tissue": (50, 400),
    "CT lung": (-600, 1500),
    "CT bone": (400, 1800),
    "MR auto (1-99%)": "percentile",
}


def contained_path(root: str, relative: str, *, file: str | None = None, record: str | None = None,
                   field: str = "image_path") -> str:
    """Resolve ``relative`` under ``root`` and refuse anything that escapes it (``../``, absolute, links)."""
    root_real = os.path.realpath(root)
    candidate = os.path.realpath(os.path.join(root_real, relative))
    if os.path.commonpath([root_real, candidate]) != root_real:
        raise MedvizError(f"image path '{relative}' escapes the images folder {root_real}",
                          file=file, record=record, field=field)
    return candidate


def sniff_format(head: bytes) -> str | None:
    if head.startswith(PNG_MAGIC):
        return "png"
    if head.startswith(JPEG_SOI):
        return "jpeg"
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    return None


def _check_pixels(w: int, h: int, name: str, record, field) -> None:
    if w <= 0 or h <= 0:
        raise MedvizError(f"image has invalid size {w}x{h}", file=name, record=record, field=field)
    if w * h > MAX_PIXELS:
        raise MedvizError(f"image is {w}x{h} = {w * h:,} pixels, over the {MAX_PIXELS:,} limit "
                          "(possible decompression bomb); refusing to load it", file=name, record=record,
                          field=field)


def validate_image_bytes(data: bytes, *, name: str, record=None, field: str = "image") -> str:
    """Cheap structural check of an encoded image; returns its format or raises MedvizError."""
    if not data:
        raise MedvizError("image is empty (0 bytes)", file=name, record=record, field=field)
    fmt = sniff_format(data[:132])
    if fmt == "png":
        if len(data) < 33 or data[12:16] != b"IHDR":
            raise MedvizError("PNG is truncated (no IHDR header)", file=name, record=record, field=field)
        w, h = struct.unpack(">II", data[16:24])
        _check_pixels(w, h, name, record, field)
        if data.rfind(b"IEND", max(0, len(data) - 64)) < 0:
            raise MedvizError("PNG is truncated (no IEND chunk at the end)", file=name, record=record,
                              field=field)
        return fmt
    if fmt == "jpeg":
        if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
            raise MedvizError("JPEG is truncated (no end-of-image marker)", file=name, record=record,
                              field=field)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(io.BytesIO(data)) as im:
                    w, h = im.size
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise MedvizError(f"image is too large ({e}); refusing to load it", file=name, record=record,
                              field=field) from None
        except Exception as e:  # noqa: BLE001 - PIL raises many types for corrupt headers
            raise MedvizError(f"JPEG header is unreadable ({e})", file=name, record=record,
                              field=field) from None
        _check_pixels(w, h, name, record, field)
        return fmt
    if fmt == "dicom":
        return fmt
    raise MedvizError("not a PNG, JPEG or DICOM image", file=name, record=record, field=field)


def validate_image_file(path: str, *, record=None, field: str = "image") -> str:
    """Validate a file on disk; reads the whole file only for PNG/JPEG trailer checks."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise MedvizError(f"cannot read image ({e.strerror})", file=path, record=record, field=field) from None
    return validate_image_bytes(data, name=path, record=record, field=field)


def window_to_uint8(arr: np.ndarray, window) -> np.ndarray:
    """Map modality values to 0..255 with a (centre, width) window, "percentile" (1-99%) or min-max (None)."""
    arr = arr.astype(np.float32)
    if window is None or window == "percentile":
        lo, hi = (np.percentile(arr, 1), np.percentile(arr, 99)) if window == "percentile" else (arr.min(), arr.max())
    else:
        c, w = window
        lo, hi = c - w / 2, c + w / 2
    if hi <= lo:
        hi = lo + 1
    return (np.clip((arr - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)


def dicom_to_array(path: str) -> tuple[np.ndarray, tuple | None]:
    """Pixel data in modality units (rescale applied) and the file's own window, if any."""
    import pydicom
    ds = pydicom.dcmread(path)
    arr = ds.pixel_array.astype(np.float32)
    arr = arr * float(getattr(ds, "RescaleSlope", 1) or 1) + float(getattr(ds, "RescaleIntercept", 0) or 0)
    wc, ww = getattr(ds, "WindowCenter", None), getattr(ds, "WindowWidth", None)
    if wc is not None and ww is not None:
        wc = float(wc[0] if hasattr(wc, "__len__") else wc)
        ww = float(ww[0] if hasattr(ww, "__len__") else ww)
        return arr, (wc, ww)
    return arr, None


def load_image(path: str, *, window: str | tuple | None = "auto", record=None) -> Image.Image:
    """Decode an image for display/encoding as RGB. DICOM is windowed (preset name or (centre, width))."""
    with open(path, "rb") as f:
        head = f.read(132)
    if sniff_format(head) == "dicom":
        arr, own = dicom_to_array(path)
        win = WINDOW_PRESETS.get(window, window) if isinstance(window, str) else window
        if win is None:
            win = own
        return Image.fromarray(window_to_uint8(arr, win)).convert("RGB")
    validate_image_file(path, record=record)
    try:
        with Image.open(path) as im:
            im.load()
            return im.convert("RGB")
    except Exception as e:  # noqa: BLE001
        raise MedvizError(f"cannot decode image ({e})", file=path, record=record, field="image") from None
