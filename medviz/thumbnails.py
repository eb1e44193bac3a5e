"""Resized copies of benchmark images for the app: a disk cache under ``<db>_files/thumbs`` (built once per
image, size and window; keyed by the file's path, size and modification time) and data URIs for tables.

Image decoding itself (PNG/JPEG/DICOM/NIfTI, windowing) lives in ``medviz.images``; this module only caches
its output.
"""
from __future__ import annotations

import base64
import hashlib
import io
import os
import threading

from .errors import MedvizError
from .image_load import load_image, window_names


def _cache_name(path: str, size: int, window) -> str:
    st = os.stat(path)
    key = f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}|{size}|{window}"
    return hashlib.sha1(key.encode()).hexdigest()


def cached_image_bytes(store, path: str, *, size: int = 96, window: str | None = "auto",
                       fmt: str = "JPEG") -> bytes:
    """A resized copy of an image, built once into ``<db>_files/thumbs`` and read from there afterwards."""
    if window is not None and window not in window_names():
        raise MedvizError(f"unknown window preset '{window}'")
    path = store.image_file(path)          # relative paths are under the store's files folder
    if not path or not os.path.exists(path):
        raise MedvizError("image file is missing", file=path or "(no path)")
    out_dir = os.path.join(store.files_dir, "thumbs")
    os.makedirs(out_dir, exist_ok=True)
    ext = "jpg" if fmt == "JPEG" else "png"
    target = os.path.join(out_dir, f"{_cache_name(path, size, window)}.{ext}")
    if os.path.exists(target):
        with open(target, "rb") as f:
            return f.read()
    im = load_image(path, window=window or "auto")
    im.thumbnail((size, size))
    buf = io.BytesIO()
    im.save(buf, format=fmt, quality=85) if fmt == "JPEG" else im.save(buf, format=fmt)
    data = buf.getvalue()
    tmp = f"{target}.{os.getpid()}.{threading.get_ident()}.tmp"   # the prefetch thread may build the same one
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, target)
    return data


def data_uri(data: bytes, mime: str = "image/jpeg") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


_PLACEHOLDER_SVG = ("<svg xmlns='http://www.w3.org/2000/svg' width='96' height='96' viewBox='0 0 96 96'>"
                    "<rect width='96' height='96' rx='6' fill='#eeeef2' stroke='#999' stroke-dasharray='4 3'/>"
                    "<text x='48' y='44' font-family='sans-serif' font-size='13' fill='#555' text-anchor='middle'>"
                    "no image</text><text x='48' y='62' font-family='sans-serif' font-size='10' fill='#777' "
                    "text-anchor='middle'>see Review</text></svg>")
MISSING_URI = data_uri(_PLACEHOLDER_SVG.encode(), "image/svg+xml")


def thumbnail_uri(store, path: str | None, size: int = 96) -> str:
    """Data URI of a cached thumbnail, or ``MISSING_URI`` (a "no image" placeholder) when the image is
    missing or unreadable, so tables never show the text "None"."""
    try:
        return data_uri(cached_image_bytes(store, path, size=size))
    except MedvizError:
        return MISSING_URI
