"""Decoding an image file for display: DICOM through pydicom (modality LUT applied: CT in Hounsfield units;
an RT dose grid times its DoseGridScaling, in its DoseUnits; palette colour through its LUT; one frame of a
multi-frame file at a time) and PNG/JPEG through Pillow, into
``Decoded`` (float32 modality values or uint8 RGB, the header fields a reader looks at, the header for the VOI
functions). Decoding is cached (``BoundedCache``): windowing and resizing are cheap, decoding is not.
``medviz.display`` turns a ``Decoded`` into the picture a reader sees; every failure is a ``MedvizError``
naming the file and the reason (a missing decoder for its transfer syntax, truncated pixel data, ...).
"""
from __future__ import annotations

import os
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from .errors import MedvizError
from .images import MAX_PIXELS, sniff_format, validate_image_file, verify_content

MAX_FRAMES_DECODED = 2_000           # a frame index beyond this is refused before decoding


@dataclass(frozen=True)
class Meta:
    """The DICOM header fields a reader looks at (None for PNG/JPEG or when the file has none)."""
    format: str
    width: int
    height: int
    n_frames: int = 1
    modality: str | None = None
    body_part: str | None = None
    series_description: str | None = None
    pixel_spacing: tuple[float, float] | None = None
    window: tuple[float, float] | None = None          # the file's own (width, centre), first of several
    voi_function: str | None = None
    photometric: str | None = None
    transfer_syntax: str | None = None
    is_color: bool = False
    value_unit: str | None = None     # what the values are in, when the file says (RT dose: Gy or relative)
    value_step: float = 1.0           # one stored unit in value units: the narrowest window (RT dose: its scaling)

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs for a metadata panel; values are plain text."""
        sp = f"{self.pixel_spacing[0]:g} × {self.pixel_spacing[1]:g} mm" if self.pixel_spacing else None
        win = f"W {self.window[0]:g} / L {self.window[1]:g}" + (f" ({self.voi_function})" if self.voi_function
                                                                 and self.voi_function != "LINEAR" else "") \
            if self.window else None
        out = [("Format", self.format.upper()), ("Size", f"{self.width} × {self.height} px"
                                                  + (f", {self.n_frames} frames" if self.n_frames > 1 else "")),
               ("Modality", self.modality), ("Body part", self.body_part),
               ("Series", self.series_description), ("Pixel spacing", sp), ("Stored window", win),
               ("Values", self.value_unit), ("Photometric", self.photometric)]
        return [(k, v) for k, v in out if v]


@dataclass
class Decoded:
    values: np.ndarray               # float32 modality values (gray) or uint8 RGB (colour)
    meta: Meta
    ds: object | None                # the pydicom dataset without pixel data (for the VOI functions)


class BoundedCache:
    """A thread-safe least-recently-used map of at most ``maxsize`` entries (decoded images here, built
    figures in the pair viewer). Values are shared: callers must not modify them."""

    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self._d: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            hit = self._d.get(key)
            if hit is not None:
                self._d.move_to_end(key)
            return hit

    def put(self, key, value) -> None:
        with self._lock:
            self._d[key] = value
            while len(self._d) > self.maxsize:
                self._d.popitem(last=False)

    def __len__(self) -> int:
        return len(self._d)


_CACHE = BoundedCache(48)


def _first(v):
    if v is None:
        return None
    try:
        return float(v[0]) if hasattr(v, "__len__") and not isinstance(v, (str, bytes)) else float(v)
    except (TypeError, ValueError, IndexError):
        return None


def text_field(v) -> str | None:
    s = str(v).strip() if v is not None else ""
    return s or None


def _dicom_meta(ds, n_frames: int) -> Meta:
    ps = getattr(ds, "PixelSpacing", None) or getattr(ds, "ImagerPixelSpacing", None)
    try:
        spacing = (float(ps[0]), float(ps[1])) if ps is not None and len(ps) >= 2 else None
    except (TypeError, ValueError):
        spacing = None
    ww, wc = _first(getattr(ds, "WindowWidth", None)), _first(getattr(ds, "WindowCenter", None))
    photometric = text_field(getattr(ds, "PhotometricInterpretation", None))
    return Meta(format="dicom", width=int(getattr(ds, "Columns", 0) or 0), height=int(getattr(ds, "Rows", 0) or 0),
                n_frames=n_frames, modality=text_field(getattr(ds, "Modality", None)),
                body_part=text_field(getattr(ds, "BodyPartExamined", None)),
                series_description=text_field(getattr(ds, "SeriesDescription", None)), pixel_spacing=spacing,
                window=(ww, wc) if ww is not None and wc is not None else None,
                voi_function=text_field(getattr(ds, "VOILUTFunction", None)), photometric=photometric,
                transfer_syntax=text_field(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
                                      and ds.file_meta.TransferSyntaxUID.name),
                is_color=int(getattr(ds, "SamplesPerPixel", 1) or 1) > 1 or photometric == "PALETTE COLOR")


def _decode_dicom(path: str, frame: int) -> Decoded:
    import pydicom
    from pydicom.pixels import apply_color_lut, apply_modality_lut
    try:
        ds = pydicom.dcmread(path)
    except Exception as e:  # noqa: BLE001 - pydicom raises many types for broken headers
        raise MedvizError(f"DICOM header is unreadable ({e})", file=path, field="image") from None
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise MedvizError("DICOM file has no pixel data", file=path, field="image")
    n_frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    rows, cols = int(getattr(ds, "Rows", 0) or 0), int(getattr(ds, "Columns", 0) or 0)
    if rows * cols > MAX_PIXELS or rows <= 0 or cols <= 0:
        raise MedvizError(f"DICOM image has size {cols}x{rows} (Rows/Columns), outside 1..{MAX_PIXELS:,} pixels", file=path,
                          field="image")
    if not 0 <= frame < min(n_frames, MAX_FRAMES_DECODED):
        raise MedvizError(f"frame {frame + 1} does not exist (the file has {n_frames} frames)", file=path,
                          field="frame")
    meta = _dicom_meta(ds, n_frames)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pydicom.pixels import pixel_array
            arr = pixel_array(ds, index=frame) if n_frames > 1 else ds.pixel_array
    except Exception as e:  # noqa: BLE001 - missing decoder, truncated data, unsupported syntax
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        ts = meta.transfer_syntax or "unknown transfer syntax"
        hint = (" — install the decoders with `pip install 'medviz[dicom]'`"
                if "plugin" in msg.lower() or "decod" in msg.lower() or "missing" in msg.lower() else "")
        raise MedvizError(f"cannot decode DICOM pixel data ({ts}): {msg}{hint}", file=path, field="image") from None
    head = ds                  # kept without its pixel data (the VOI functions read only the header)
    for tag in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"):
        if tag in head:
            del head[tag]
    if meta.photometric == "PALETTE COLOR":
        try:
            arr = apply_color_lut(arr, ds)
        except Exception as e:  # noqa: BLE001
            raise MedvizError(f"cannot apply the palette colour LUT ({e})", file=path, field="image") from None
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):     # colour: 8-bit RGB for display
        if arr.dtype != np.uint8:
            a = arr.astype(np.float32)
            lo, hi = float(a.min()), float(a.max())
            arr = ((a - lo) / max(hi - lo, 1e-6) * 255).astype(np.uint8)
        return Decoded(values=np.ascontiguousarray(arr[..., :3]), meta=replace(meta, is_color=True), ds=head)
    if arr.ndim != 2:
        raise MedvizError(f"unexpected pixel array shape {arr.shape}", file=path, field="image")
    values = np.asarray(apply_modality_lut(arr, ds), dtype=np.float32)
    if meta.modality == "RTDOSE":
        values, meta = _dose(values, ds, meta)
    return Decoded(values=values, meta=replace(meta, is_color=False), ds=head)


DOSE_UNITS = {"GY": "dose in Gy", "RELATIVE": "relative dose"}


def _dose(values: np.ndarray, ds, meta: Meta) -> tuple[np.ndarray, Meta]:
    """An RT dose grid in its dose units: pydicom's ``apply_modality_lut`` leaves RT Dose's DoseGridScaling
    (3004,000E) out, though the standard says stored value × DoseGridScaling is the dose in DoseUnits
    (3004,0002). Without a usable scaling the stored values are shown, and the metadata says so."""
    unit = DOSE_UNITS.get(str(ds.get("DoseUnits", "") or "").strip().upper())
    try:
        scale = float(ds.get("DoseGridScaling"))
    except (TypeError, ValueError):
        scale = None
    if scale is None or not np.isfinite(scale) or scale <= 0:
        return values, replace(meta, value_unit="stored dose values (no usable DoseGridScaling)")
    scaled = (values.astype(np.float64) * scale).astype(np.float32)
    return scaled, replace(meta, value_unit=f"{unit or 'dose (DoseUnits not given)'}, stored × DoseGridScaling "
                                            f"{scale:g}", value_step=min(scale, 1.0))


def _decode_raster(path: str) -> Decoded:
    fmt = validate_image_file(path)
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("L", "I", "I;16", "F", "1", "P", "LA") and im.mode != "P":
                g = np.asarray(im.convert("F") if im.mode != "L" else im, dtype=np.float32)
                is_color = False
            else:
                rgb = im.convert("RGB")
                a = np.asarray(rgb)
                is_color = not (np.array_equal(a[..., 0], a[..., 1]) and np.array_equal(a[..., 1], a[..., 2]))
                g = a if is_color else a[..., 0].astype(np.float32)
    except MedvizError:
        raise
    except Exception as e:  # noqa: BLE001
        raise MedvizError(f"cannot decode image ({e})", file=path, field="image") from None
    h, w = g.shape[:2]
    return Decoded(values=g, meta=Meta(format=fmt, width=w, height=h, is_color=is_color), ds=None)


def _decode(path: str, frame: int, fmt: str | None) -> Decoded:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _decode_dicom(path, frame) if fmt == "dicom" else _decode_raster(path)
    except MedvizError:
        raise
    except Exception as e:  # noqa: BLE001 - malformed headers reach pydicom's value parsers in many ways
        raise MedvizError(f"cannot read the image ({type(e).__name__}: {e})", file=path, field="image") from None


def decode(path: str, frame: int = 0) -> Decoded:
    """Decode one frame (cached by path, size, modification time and frame); MedvizError when it cannot."""
    if not path or not os.path.exists(path):
        raise MedvizError("image file is missing", file=path or "(no path)", field="image")
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns, int(frame))
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    verify_content(path)          # a content-addressed file (GMAI) must still hold the bytes recorded at ingest
    with open(path, "rb") as f:
        head = f.read(132)
    fmt = sniff_format(head)
    if fmt is None and head[:4] != b"DICM":
        # DICOM files without the 128-byte preamble exist (some of pydicom's test files); let pydicom try.
        d = _decode(path, frame, "dicom" if path.lower().endswith((".dcm", ".dicom")) else None)
    else:
        d = _decode(path, frame, fmt)
    _CACHE.put(key, d)
    return d


def metadata(path: str) -> Meta:
    return decode(path).meta
