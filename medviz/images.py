"""Safe image handling: containment, per-image status, the pixel limit for every format, content hashes.

At ingest each image file is read once: the same bytes are checked (header, end marker, pixel count from
the header, DICOM header and pixel-data length) and hashed. A file that fails gets status ``unreadable``
with a reason a user can act on; an absent one ``missing``; the load itself goes on. Display decodes the
same way after the same checks, so nothing reaches a decoder that the header says is over the limit.
"""
from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import stat
import struct
from dataclasses import dataclass

from PIL import Image, ImageFile

from . import limits
from .errors import MedvizError

MAX_PIXELS = limits.MAX_PIXELS
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
ImageFile.LOAD_TRUNCATED_IMAGES = False

OK, MISSING, UNREADABLE = "ok", "missing", "unreadable"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8"
DICOM_MAGIC_OFFSET = 128
EXT = {"png": ".png", "jpeg": ".jpg", "dicom": ".dcm"}
ESCAPES = "outside the images folder"          # every containment reason starts with this
_DRIVE = re.compile(r"[A-Za-z]:")              # a Windows drive prefix (matched at the start)



@dataclass
class ImageCheck:
    """What ingest records about one image: ``ok`` (with format and SHA-256), ``missing`` or ``unreadable``."""
    status: str
    reason: str | None = None
    path: str | None = None         # the file that was (or would be) read
    fmt: str | None = None
    sha256: str | None = None


class ImageFolder:
    """Paths from a benchmark file, resolved under one images folder.

    The folder's real path is computed once; each image path is normalised and prefix-checked (no
    ``realpath`` per file), each distinct sub-folder is resolved once (a linked sub-folder pointing outside
    is caught there), and the file itself is refused if it is a symbolic link pointing outside.
    """

    def __init__(self, root: str):
        self.root = os.path.realpath(root)
        self._prefix = self.root.rstrip(os.sep) + os.sep
        self._dirs: dict[str, bool] = {}

    def _inside(self, real: str) -> bool:
        return real == self.root or real.startswith(self._prefix)

    def _candidate(self, relative: str) -> tuple[str | None, str | None]:
        """(normalised absolute path, None) or (None, reason) when the path itself or a folder on it leaves the
        folder; the file at the end is not looked at."""
        if "\x00" in relative:
            return None, f"{ESCAPES}: the path contains a NUL character"
        if os.path.isabs(relative) or relative.startswith("\\") or _DRIVE.match(relative):
            return None, f"{ESCAPES}: absolute path {limits.quote(relative)} (paths must be relative to the folder)"
        candidate = os.path.normpath(os.path.join(self.root, relative))
        if not candidate.startswith(self._prefix):
            return None, f"{ESCAPES}: {limits.quote(relative)} climbs out with '..'"
        folder = os.path.dirname(candidate)
        ok = self._dirs.get(folder)
        if ok is None:
            ok = self._dirs[folder] = self._inside(os.path.realpath(folder))
        if not ok:
            return None, f"{ESCAPES}: a folder in {limits.quote(relative)} is a symbolic link pointing outside"
        return candidate, None

    def _follow(self, relative: str, candidate: str) -> tuple[str | None, str | None]:
        """A file that is a symbolic link: its target when inside the folder, else (None, reason)."""
        real = os.path.realpath(candidate)
        if not self._inside(real):
            return None, f"{ESCAPES}: {limits.quote(relative)} is a symbolic link pointing outside"
        return real, None

    def locate(self, relative: str) -> tuple[str | None, str | None]:
        """(absolute path, None) or (None, reason) when the path leaves the folder."""
        candidate, reason = self._candidate(relative)
        if reason:
            return None, reason
        try:
            st = os.lstat(candidate)
        except OSError:
            return candidate, None                       # absent: the caller records it as missing
        if stat.S_ISLNK(st.st_mode):
            return self._follow(relative, candidate)
        return candidate, None

    def check(self, relative: str) -> ImageCheck:
        """``locate`` + ``check_file`` without an ``lstat`` per file: the file is opened without following a
        link at the last step (``O_NOFOLLOW``); only when it is a link is its target resolved and contained."""
        if not hasattr(os, "O_NOFOLLOW"):          # no way to open without following: look first
            path, reason = self.locate(relative)
            return ImageCheck(UNREADABLE, reason) if reason else check_file(path)
        path, reason = self._candidate(relative)
        if reason:
            return ImageCheck(UNREADABLE, reason)
        res = _check_file(path)
        if res is not _LINK:
            return res
        path, reason = self._follow(relative, path)
        return ImageCheck(UNREADABLE, reason) if reason else check_file(path)


def sniff_format(head: bytes) -> str | None:
    if head.startswith(PNG_MAGIC):
        return "png"
    if head.startswith(JPEG_SOI):
        return "jpeg"
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    return None


def _pixels_reason(w: int, h: int, frames: int = 1) -> str | None:
    if w <= 0 or h <= 0 or frames <= 0:
        return f"image has an invalid size {w}x{h}" + (f"x{frames} frames" if frames != 1 else "")
    n = w * h * frames
    if n > MAX_PIXELS:
        size = f"{w}x{h}" + (f"x{frames} frames" if frames != 1 else "")
        return (f"over the pixel limit: {size} = {n:,} pixels, limit {MAX_PIXELS:,} (MEDVIZ_MAX_PIXELS); "
                "a possible decompression bomb, refused from its header")
    return None


def dicom_dataset(data: bytes, *, pixels: bool = True):
    import pydicom
    return pydicom.dcmread(io.BytesIO(data), stop_before_pixels=not pixels)


def dicom_reason(data: bytes) -> str | None:
    """Why a DICOM file cannot be shown, from its header and pixel-data length (no decoding), or None."""
    try:
        ds = dicom_dataset(data)
        rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
    except Exception as e:  # noqa: BLE001 - pydicom raises many types for damaged headers
        return f"undecodable DICOM: the header cannot be read ({limits.clip(e, 120)})"
    if "PixelData" not in ds:
        return "undecodable DICOM: the file has no pixel data"
    reason = _pixels_reason(cols, rows, frames)
    if reason:
        return reason
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if ts is not None and ts.is_compressed:
        return _decoder_reason(ts)
    if ts is None or not ts.is_compressed:
        spp = int(ds.get("SamplesPerPixel", 1) or 1)
        bits = int(ds.get("BitsAllocated", 16) or 16)
        need = rows * cols * frames * spp * bits // 8
        have = len(ds.PixelData)
        if have < need:
            return f"truncated DICOM: pixel data has {have:,} of {need:,} bytes"
    return None


def _decoder_reason(ts) -> str | None:
    """Why a compressed transfer syntax cannot be decoded here (no decoder installed for it), or None."""
    from pydicom.pixels import get_decoder
    try:
        decoder = get_decoder(ts)
    except NotImplementedError:
        return f"undecodable DICOM: no decoder exists for its transfer syntax {ts.name}"
    if not decoder.is_available:
        return (f"undecodable DICOM: no decoder for its transfer syntax {ts.name} is installed here; install "
                "them with `pip install 'medviz[dicom]'` and ingest the benchmark again")
    return None


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's start-of-frame segment, walking the marker segments; None if damaged."""
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:                      # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if length < 2:
            return None
        if marker in _SOF:
            if i + 9 > n:
                return None
            h = int.from_bytes(data[i + 5:i + 7], "big")
            w = int.from_bytes(data[i + 7:i + 9], "big")
            return w, h
        if marker == 0xDA:                      # start of scan before any frame header
            return None
        i += 2 + length
    return None


def inspect_bytes(data: bytes) -> tuple[str | None, str | None]:
    """(format, None) for an image that passes the structural checks, else (None, reason)."""
    if not data:
        return None, "empty file (0 bytes)"
    fmt = sniff_format(data[:132])
    if fmt == "png":
        if len(data) < 33 or data[12:16] != b"IHDR":
            return None, "truncated PNG (no IHDR header)"
        w, h = struct.unpack(">II", data[16:24])
        reason = _pixels_reason(w, h)
        if reason:
            return None, reason
        if data.rfind(b"IEND", max(0, len(data) - 64)) < 0:
            return None, "truncated PNG (no IEND chunk at the end)"
        return fmt, None
    if fmt == "jpeg":
        if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
            return None, "truncated JPEG (no end-of-image marker)"
        size = _jpeg_size(data)
        if size is None:
            return None, "not an image: the JPEG header has no frame size (damaged header)"
        w, h = size
        reason = _pixels_reason(w, h)
        return (None, reason) if reason else (fmt, None)
    if fmt == "dicom":
        reason = dicom_reason(data)
        return (None, reason) if reason else (fmt, None)
    return None, "not an image: not a PNG, JPEG or DICOM file"


def read_bounded(path: str) -> bytes:
    """The file's bytes, not following a symbolic link at the last step, refused over MAX_IMAGE_BYTES.

    One ``os.read`` of the size ``fstat`` gave (+1 byte, which shows a file that grew): asking a buffered
    reader for MAX_IMAGE_BYTES + 1 made it allocate that much per file (8x slower than the read itself).
    A short read or a grown file is read on to its end, never past MAX_IMAGE_BYTES + 1 bytes."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        size = os.fstat(fd).st_size
        if size > limits.MAX_IMAGE_BYTES:
            raise TooBig(size)
        data = os.read(fd, size + 1)
        if len(data) == size:
            return data
        parts, total = [data], len(data)
        while total <= limits.MAX_IMAGE_BYTES:
            more = os.read(fd, min(1 << 20, limits.MAX_IMAGE_BYTES + 1 - total))
            if not more:
                break
            parts.append(more)
            total += len(more)
        return b"".join(parts)
    finally:
        os.close(fd)


class TooBig(Exception):
    def __init__(self, size):
        self.size = size


_LINK = object()     # what _check_file returns for a file that is a symbolic link


def check_file(path: str) -> ImageCheck:
    """Read a file once: status, reason, format and SHA-256 of the very bytes that were checked."""
    res = _check_file(path)
    return ImageCheck(UNREADABLE, f"{ESCAPES}: the file is a symbolic link", path) if res is _LINK else res


def _check_file(path: str):
    try:
        data = read_bounded(path)
    except FileNotFoundError:
        return ImageCheck(MISSING, "no such file", path)
    except TooBig as e:
        return ImageCheck(UNREADABLE, f"file is {limits.human_bytes(e.size)}, over the "
                          f"{limits.human_bytes(limits.MAX_IMAGE_BYTES)} limit (MEDVIZ_MAX_IMAGE_BYTES)", path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return _LINK
        if e.errno == errno.EISDIR or os.path.isdir(path):
            return ImageCheck(UNREADABLE, "not an image: the path is a folder", path)
        return ImageCheck(UNREADABLE, f"cannot read the file ({e.strerror})", path)
    return check_bytes(data, path=path)


def check_bytes(data: bytes, *, path: str | None = None) -> ImageCheck:
    if len(data) > limits.MAX_IMAGE_BYTES:
        return ImageCheck(UNREADABLE, f"image is {limits.human_bytes(len(data))}, over the "
                          f"{limits.human_bytes(limits.MAX_IMAGE_BYTES)} limit (MEDVIZ_MAX_IMAGE_BYTES)", path)
    fmt, reason = inspect_bytes(data)
    if reason:
        return ImageCheck(UNREADABLE, reason, path)
    return ImageCheck(OK, None, path, fmt, hashlib.sha256(data).hexdigest())


def validate_image_bytes(data: bytes, *, name: str, record=None, field: str = "image") -> str:
    """Structural check of an encoded image; returns its format or raises MedvizError with the reason."""
    fmt, reason = inspect_bytes(data)
    if reason:
        raise MedvizError(reason, file=name, record=record, field=field)
    return fmt


def validate_image_file(path: str, *, record=None, field: str = "image") -> str:
    res = check_file(path)
    if res.status != OK:
        raise MedvizError(res.reason, file=path, record=record, field=field)
    return res.fmt


def content_sha256(path: str) -> str | None:
    """The SHA-256 a content-addressed file's name promises (``<sha256>.<ext>``), else None."""
    stem = os.path.splitext(os.path.basename(path))[0]
    shard = os.path.basename(os.path.dirname(path))
    return stem if re.fullmatch(r"[0-9a-f]{64}", stem) and shard == stem[:2] else None


def verify_content(path: str, data: bytes | None = None, expected: str | None = None, *, record=None) -> None:
    """Refuse a file whose bytes no longer match the SHA-256 recorded at ingest (``expected``, or the one a
    content-addressed file's name promises)."""
    expected = expected or content_sha256(path)
    if not expected:
        return
    if data is None:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        digest = h.hexdigest()
    else:
        digest = hashlib.sha256(data).hexdigest()
    if digest != expected:
        raise MedvizError("image file does not match the SHA-256 recorded at ingest (changed or damaged "
                          "since); ingest the benchmark again", file=path, record=record, field="image")
