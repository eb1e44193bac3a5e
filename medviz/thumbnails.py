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
from .images import WINDOW_PRESETS, load_image


def _cache_name(path: str, size: int, window) -> str:
    st = os.stat(path)
    key = f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}|{size}|{window}"
    return hashlib.sha1(key.encode()).hexdigest()


def cached_image_bytes(store, path: str, *, size: int = 96, window: str | None = "auto",
                       fmt: str = "JPEG") -> bytes:
    """A resized copy of an image, built once into ``<db>_files/thumbs`` and read from there afterwards."""
    if window not in (None, "auto") and window not in WINDOW_PRESETS:
        raise MedvizError(f"unknown window preset '{window}'")
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
    tmp = f"{target}.{os.getpid()}-{threading.get_ident()}.tmp"   # one name per writer thread: sessions share a process
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, target)
    return data


def data_uri(data: bytes, mime: str = "image/jpeg") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def thumbnail_uri(store, path: str | None, size: int = 96) -> str | None:
    """Data URI of a cached thumbnail, or None when the image is missing/unreadable (the table shows blank)."""
    try:
        return data_uri(cached_image_bytes(store, path, size=size))
    except MedvizError:
        return None
