"""The display pipeline: from an image file to the 8-bit picture a reader sees, the way a DICOM viewer does it.

DICOM, on pydicom's own functions, in the order of the standard's grayscale pipeline:
stored values -> ``apply_modality_lut`` (rescale slope/intercept or a modality LUT; CT in Hounsfield units;
an RT dose grid times its DoseGridScaling, in Gy: ``decoding``)
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

Decoding (pydicom / Pillow, cached) lives in ``medviz.decoding``; its names are re-exported here.
``decode_status(path)`` says whether a file can be shown and, when not, why (a missing decoder for its
transfer syntax, truncated pixel data, ...); ``render`` raises ``MedvizError`` with that reason, never
anything else.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .decoding import BoundedCache, Decoded, Meta, decode, metadata, text_field  # noqa: F401 - re-exported
from .errors import MedvizError

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


@dataclass(frozen=True)
class View:
    """What the reader chose for one image. ``window`` = (width, centre) overrides ``preset``."""
    preset: str = FILE_WINDOW
    window: tuple[float, float] | None = None
    brightness: float = 0.0          # -100 .. 100, added to the 8-bit output
    contrast: float = 1.0            # 0.2 .. 4, around mid-gray
    invert: bool = False
    frame: int = 0


def presets_for(modality: str | None) -> list[str]:
    """The preset names offered for an image of this DICOM modality: CT's only on CT."""
    return list(GENERIC_PRESETS) + (list(CT_PRESETS) if (modality or "").upper() == "CT" else [])


def preset_applies(preset: str, modality: str | None) -> bool:
    return preset in presets_for(modality)


def decode_status(path: str) -> str | None:
    """None when the file's first frame can be shown, else the reason (for an image status at ingest)."""
    try:
        render(path, View())
        return None
    except MedvizError as e:
        return getattr(e, "detail", None) or str(e)


# ---------------------------------------------------------------------------------------------------------
# rendering

def _chosen_window(d: Decoded, view: View) -> tuple[float, float] | None:
    """The (width, level) the reader chose (their own, a preset of the image's modality, Auto), or None for
    the file's own VOI."""
    window = view.window
    if window is None and view.preset in CT_PRESETS and preset_applies(view.preset, d.meta.modality):
        window = CT_PRESETS[view.preset]
    if window is None and view.preset == AUTO and not d.meta.is_color:
        lo, hi = np.percentile(d.values, [1, 99])
        window = (max(float(hi - lo), d.meta.value_step), float(lo + hi) / 2)
    return window


def value_range(d: Decoded) -> tuple[float, float]:
    """(lowest, highest) value of a decoded frame, in the units windows are given in (0..255 for colour)."""
    if d.meta.is_color:
        return 0.0, 255.0
    r = getattr(d, "_range", None)
    if r is None:
        r = (float(np.min(d.values)), float(np.max(d.values)))
        d._range = r
    return r


def shown_window(d: Decoded, view: View) -> tuple[float, float] | None:
    """The window (width, level) the image is displayed with under ``view``, in its value units (Hounsfield
    units for CT); None when the file's VOI LUT table (not a window) maps it. What a W/L overlay shows and a
    window/level drag starts from."""
    window = _chosen_window(d, view)
    step = d.meta.value_step
    if window is not None:
        return max(float(window[0]), step), float(window[1])
    if d.ds is None:
        return 255.0, 127.5                  # PNG/JPEG and colour: the identity window
    if "VOILUTSequence" in d.ds:
        return None
    if d.meta.window is not None and "WindowCenter" in d.ds and "WindowWidth" in d.ds:
        return max(d.meta.window[0], step), d.meta.window[1]
    lo, hi = value_range(d)
    return max(hi - lo, step), (lo + hi) / 2


def _voi(d: Decoded, view: View) -> np.ndarray:
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
            window = (max(hi - lo, d.meta.value_step), (lo + hi) / 2)
        ds2 = _window_ds(ds, window, text_field(ds.get("VOILUTFunction")), d.meta.value_step)
        out = np.asarray(apply_windowing(v, ds2, index=0), dtype=np.float32)
        return _unit_range(out, ds2, v)
    if window is None:                       # PNG/JPEG "file window": their own gray values
        window = (255.0, 127.5)
    w, c = max(float(window[0]), 1.0), float(window[1])
    return np.clip((v - (c - w / 2)) / w, 0, 1)


def _window_ds(ds, window: tuple[float, float], function: str | None, min_width: float = 1.0):
    """A new small dataset carrying what ``apply_windowing`` reads (never the cached one: copies of a pydicom
    Dataset share their elements, so setting a window on a copy would change the original). A window narrower
    than 1 (values in Gy: an RT dose grid) is applied as LINEAR_EXACT, which the standard allows for any width
    above 0 (LINEAR needs at least 1 and differs from it by half a stored unit)."""
    from pydicom.dataset import Dataset
    out = Dataset()
    for kw in ("PixelRepresentation", "BitsStored", "RescaleSlope", "RescaleIntercept", "ModalityLUTSequence",
               "PhotometricInterpretation"):
        if kw in ds:
            setattr(out, kw, ds[kw].value)
    width = float(max(window[0], min_width))
    out.WindowWidth, out.WindowCenter = width, float(window[1])
    if width < 1 and function in (None, "LINEAR"):
        function = "LINEAR_EXACT"
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


def to_uint8(d: Decoded, view: View) -> np.ndarray:
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
