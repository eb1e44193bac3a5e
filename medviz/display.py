"""The display pipeline: from an image file to the 8-bit picture a reader sees, the way a DICOM viewer does it.

DICOM, on pydicom's own functions, in the order of the standard's grayscale pipeline:
stored values -> ``apply_modality_lut`` (rescale slope/intercept or a modality LUT; CT in Hounsfield units)
-> VOI: ``apply_voi_lut`` with the file's own VOI LUT / window (LINEAR, LINEAR_EXACT or SIGMOID), or
``apply_windowing`` with a window the reader chose (a preset or their own centre/width, keeping the file's
VOI LUT function) -> MONOCHROME1 inverted so that low values are white, as the standard says -> 8 bits.
Colour DICOM (RGB, YBR, palette colour through ``apply_color_lut``) skips the VOI; a window the reader
sets (a window/level drag) applies to each channel's 0..255. Multi-frame files show
one frame at a time (``View.frame``).

PNG/JPEG go through the same reader controls: their gray values are windowed like modality values (a full
window W255/L127.5 is the identity; colour ones per channel), then brightness/contrast and invert apply to
every image. ``shown_window`` says which window an image is displayed with (the W/L overlay, where a drag starts).

Presets follow the image's modality (``presets_for``): CT presets with OHIF's values only on CT; every image
has "File window" (the DICOM file's own VOI, or the full range for PNG/JPEG) and "Auto (1-99%)".

``decode_status(path)`` says whether a file can be shown and, when not, why (a missing decoder for its
transfer syntax, truncated pixel data, ...); ``render`` raises ``MedvizError`` with that reason, never
anything else.
"""
from __future__ import annotations

import io
import os
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from .errors import MedvizError
from .images import MAX_PIXELS, sniff_format, validate_image_file, verify_content

# OHIF's CT window presets: name -> (window width, window level/centre), Hounsfield units.
CT_PRESETS = {
    "Soft tissue": (400, 40),
    "Lung": (1500, -600),
    "Liver": (150, 90),
    "Bone": (2500, 480),
    "Brain": (80, 40),
    "Mediastinum": (350, 50),
}
FILE_WINDOW = "File window"
AUTO = "Auto (1-99%)"
GENERIC_PRESETS = (FILE_WINDOW, AUTO)
MAX_FRAMES_DECODED = 2_000           # a frame index beyond this is refused before decoding


@dataclass(frozen=True)
class View:
    """What the reader chose for one image. ``window`` = (width, centre) overrides ``preset``."""
    preset: str = FILE_WINDOW
    window: tuple[float, float] | None = None
    brightness: float = 0.0          # -100 .. 100, added to the 8-bit output
    contrast: float = 1.0            # 0.2 .. 4, around mid-gray
    invert: bool = False
    frame: int = 0


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
               ("Photometric", self.photometric)]
        return [(k, v) for k, v in out if v]


def presets_for(modality: str | None) -> list[str]:
    """The preset names offered for an image of this DICOM modality: CT's only on CT."""
    return list(GENERIC_PRESETS) + (list(CT_PRESETS) if (modality or "").upper() == "CT" else [])


def preset_applies(preset: str, modality: str | None) -> bool:
    return preset in presets_for(modality)


# ---------------------------------------------------------------------------------------------------------
# decoding (cached: windowing and resizing are cheap, decoding is not)

@dataclass
class _Decoded:
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


def _text(v) -> str | None:
    s = str(v).strip() if v is not None else ""
    return s or None


def _dicom_meta(ds, n_frames: int) -> Meta:
    ps = getattr(ds, "PixelSpacing", None) or getattr(ds, "ImagerPixelSpacing", None)
    try:
        spacing = (float(ps[0]), float(ps[1])) if ps is not None and len(ps) >= 2 else None
    except (TypeError, ValueError):
        spacing = None
    ww, wc = _first(getattr(ds, "WindowWidth", None)), _first(getattr(ds, "WindowCenter", None))
    photometric = _text(getattr(ds, "PhotometricInterpretation", None))
    return Meta(format="dicom", width=int(getattr(ds, "Columns", 0) or 0), height=int(getattr(ds, "Rows", 0) or 0),
                n_frames=n_frames, modality=_text(getattr(ds, "Modality", None)),
                body_part=_text(getattr(ds, "BodyPartExamined", None)),
                series_description=_text(getattr(ds, "SeriesDescription", None)), pixel_spacing=spacing,
                window=(ww, wc) if ww is not None and wc is not None else None,
                voi_function=_text(getattr(ds, "VOILUTFunction", None)), photometric=photometric,
                transfer_syntax=_text(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
                                      and ds.file_meta.TransferSyntaxUID.name),
                is_color=int(getattr(ds, "SamplesPerPixel", 1) or 1) > 1 or photometric == "PALETTE COLOR")


def _decode_dicom(path: str, frame: int) -> _Decoded:
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
        return _Decoded(values=np.ascontiguousarray(arr[..., :3]), meta=replace(meta, is_color=True), ds=head)
    if arr.ndim != 2:
        raise MedvizError(f"unexpected pixel array shape {arr.shape}", file=path, field="image")
    values = np.asarray(apply_modality_lut(arr, ds), dtype=np.float32)
    return _Decoded(values=values, meta=replace(meta, is_color=False), ds=head)


def _decode_raster(path: str) -> _Decoded:
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
    return _Decoded(values=g, meta=Meta(format=fmt, width=w, height=h, is_color=is_color), ds=None)


def _decode(path: str, frame: int, fmt: str | None) -> _Decoded:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _decode_dicom(path, frame) if fmt == "dicom" else _decode_raster(path)
    except MedvizError:
        raise
    except Exception as e:  # noqa: BLE001 - malformed headers reach pydicom's value parsers in many ways
        raise MedvizError(f"cannot read the image ({type(e).__name__}: {e})", file=path, field="image") from None


def decode(path: str, frame: int = 0) -> _Decoded:
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


def decode_status(path: str) -> str | None:
    """None when the file's first frame can be shown, else the reason (for an image status at ingest)."""
    try:
        render(path, View())
        return None
    except MedvizError as e:
        return getattr(e, "detail", None) or str(e)


# ---------------------------------------------------------------------------------------------------------
# rendering

def _chosen_window(d: _Decoded, view: View) -> tuple[float, float] | None:
    """The (width, level) the reader chose (their own, a preset of the image's modality, Auto), or None for
    the file's own VOI."""
    window = view.window
    if window is None and view.preset in CT_PRESETS and preset_applies(view.preset, d.meta.modality):
        window = CT_PRESETS[view.preset]
    if window is None and view.preset == AUTO and not d.meta.is_color:
        lo, hi = np.percentile(d.values, [1, 99])
        window = (max(float(hi - lo), 1.0), float(lo + hi) / 2)
    return window


def value_range(d: _Decoded) -> tuple[float, float]:
    """(lowest, highest) value of a decoded frame, in the units windows are given in (0..255 for colour)."""
    if d.meta.is_color:
        return 0.0, 255.0
    r = getattr(d, "_range", None)
    if r is None:
        r = (float(np.min(d.values)), float(np.max(d.values)))
        d._range = r
    return r


def shown_window(d: _Decoded, view: View) -> tuple[float, float] | None:
    """The window (width, level) the image is displayed with under ``view``, in its value units (Hounsfield
    units for CT); None when the file's VOI LUT table (not a window) maps it. What a W/L overlay shows and a
    window/level drag starts from."""
    window = _chosen_window(d, view)
    if window is not None:
        return max(float(window[0]), 1.0), float(window[1])
    if d.ds is None:
        return 255.0, 127.5                  # PNG/JPEG and colour: the identity window
    if "VOILUTSequence" in d.ds:
        return None
    if d.meta.window is not None and "WindowCenter" in d.ds and "WindowWidth" in d.ds:
        return max(d.meta.window[0], 1.0), d.meta.window[1]
    lo, hi = value_range(d)
    return max(hi - lo, 1.0), (lo + hi) / 2


def _voi(d: _Decoded, view: View) -> np.ndarray:
    """Gray modality values -> 0..1 through the chosen VOI (pydicom's functions for DICOM)."""
    v = d.values
    window = _chosen_window(d, view)
    if d.ds is not None:
        from pydicom.pixels import apply_voi_lut, apply_windowing
        ds = d.ds
        if window is None:
            has_voi = "VOILUTSequence" in ds or ("WindowCenter" in ds and "WindowWidth" in ds)
            if has_voi:
                try:
                    out = np.asarray(apply_voi_lut(v, ds, index=0), dtype=np.float32)
                    return _unit_range(out, ds, v)
                except Exception:  # noqa: BLE001 - a malformed VOI falls back to the full range
                    pass
            lo, hi = float(v.min()), float(v.max())
            window = (max(hi - lo, 1.0), (lo + hi) / 2)
        ds2 = _window_ds(ds, window, _text(ds.get("VOILUTFunction")))
        out = np.asarray(apply_windowing(v, ds2, index=0), dtype=np.float32)
        return _unit_range(out, ds2, v)
    if window is None:                       # PNG/JPEG "file window": their own gray values
        window = (255.0, 127.5)
    w, c = max(float(window[0]), 1.0), float(window[1])
    return np.clip((v - (c - w / 2)) / w, 0, 1)


def _window_ds(ds, window: tuple[float, float], function: str | None):
    """A new small dataset carrying what ``apply_windowing`` reads (never the cached one: copies of a pydicom
    Dataset share their elements, so setting a window on a copy would change the original)."""
    from pydicom.dataset import Dataset
    out = Dataset()
    for kw in ("PixelRepresentation", "BitsStored", "RescaleSlope", "RescaleIntercept", "ModalityLUTSequence",
               "PhotometricInterpretation"):
        if kw in ds:
            setattr(out, kw, ds[kw].value)
    out.WindowWidth, out.WindowCenter = float(max(window[0], 1.0)), float(window[1])
    if function:
        out.VOILUTFunction = function
    return out


def _unit_range(out: np.ndarray, ds, v: np.ndarray) -> np.ndarray:
    """Scale a VOI output to 0..1 using the output range pydicom maps onto (found by windowing its extremes)."""
    from pydicom.pixels import apply_windowing
    try:
        if "VOILUTSequence" in ds:
            lo, hi = float(out.min()), float(out.max())
        else:
            probe = _window_ds(ds, (1.0, 0.0), "LINEAR")
            ext = np.asarray(apply_windowing(np.array([-1e12, 1e12], dtype=np.float64), probe, index=0))
            lo, hi = float(ext.min()), float(ext.max())
    except Exception:  # noqa: BLE001
        lo, hi = float(out.min()), float(out.max())
    if hi <= lo:
        hi = lo + 1
    return np.clip((out - lo) / (hi - lo), 0, 1)


def to_uint8(d: _Decoded, view: View) -> np.ndarray:
    """The displayed pixels (H x W gray or H x W x 3 colour, uint8) of a decoded image under a view."""
    if d.meta.is_color and view.window is not None:     # a reader's window on colour: per channel, 0..255
        w, c = max(float(view.window[0]), 1.0), float(view.window[1])
        x = np.clip((d.values.astype(np.float32) - (c - w / 2)) / w, 0, 1)
    elif d.meta.is_color:
        x = d.values.astype(np.float32) / 255.0
    else:
        x = _voi(d, view)
        if d.meta.photometric == "MONOCHROME1":     # low values are white in MONOCHROME1
            x = 1.0 - x
    if view.invert:
        x = 1.0 - x
    x = (x - 0.5) * float(view.contrast) + 0.5 + float(view.brightness) / 255.0
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)


def render(path: str, view: View = View(), *, box: int | None = None, upscale: bool = False) -> Image.Image:
    """The image as the reader sees it (RGB). ``box``: fit inside box x box (never enlarged unless
    ``upscale``). MedvizError (with the reason) when the file cannot be shown."""
    d = decode(path, view.frame)
    im = Image.fromarray(to_uint8(d, view)).convert("RGB")
    if box:
        w, h = im.size
        s = box / max(w, h)
        if s < 1 or (upscale and s > 1):
            im = im.resize((max(1, round(w * s)), max(1, round(h * s))),
                           Image.Resampling.LANCZOS if s < 1 else Image.Resampling.BILINEAR)
    return im


def render_bytes(path: str, view: View = View(), *, box: int | None = None, upscale: bool = False,
                 fmt: str = "PNG") -> bytes:
    im = render(path, view, box=box, upscale=upscale)
    buf = io.BytesIO()
    im.save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {"compress_level": 1}))
    return buf.getvalue()
