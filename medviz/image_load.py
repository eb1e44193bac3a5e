"""Loading an image for the encoders and thumbnails: ``load_image`` (RGB, DICOM through the viewer's own
display pipeline and its window presets) and ``dicom_to_array`` (modality values + the file's window, for the
encoders' fast path). Every file is read once and checked as at ingest (``medviz.images``) before decoding.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from . import limits
from .errors import MedvizError
from .images import TooBig, dicom_dataset, dicom_reason, read_bounded, validate_image_bytes, verify_content


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


def dicom_to_array(source) -> tuple[np.ndarray, tuple | None]:
    """Pixel data in modality units (rescale applied) and the file's own window, if any.

    ``source`` is a path or the file's bytes; the pixel limit is checked from the header before decoding."""
    if isinstance(source, (bytes, bytearray)):
        data, name = bytes(source), None
    else:
        name = source
        try:
            data = read_bounded(source)
        except TooBig as e:
            raise MedvizError(f"file is {limits.human_bytes(e.size)}, over the image size limit", file=name) from None
    reason = dicom_reason(data)
    if reason:
        raise MedvizError(reason, file=name, field="image")
    ds = dicom_dataset(data)
    try:
        arr = ds.pixel_array.astype(np.float32)
    except Exception as e:  # noqa: BLE001 - missing codec, damaged compressed stream
        raise MedvizError(f"undecodable DICOM: {limits.clip(e, 160)}", file=name, field="image") from None
    arr = arr * float(getattr(ds, "RescaleSlope", 1) or 1) + float(getattr(ds, "RescaleIntercept", 0) or 0)
    wc, ww = getattr(ds, "WindowCenter", None), getattr(ds, "WindowWidth", None)
    if wc is not None and ww is not None:
        wc = float(wc[0] if hasattr(wc, "__len__") else wc)
        ww = float(ww[0] if hasattr(ww, "__len__") else ww)
        return arr, (wc, ww)
    return arr, None


def window_names() -> tuple[str, ...]:
    """The named windows ``load_image`` takes: "auto" (the file's own) and the viewer's (``medviz.display``)."""
    from . import display
    return ("auto", *display.GENERIC_PRESETS, *display.CT_PRESETS)


def _dicom_view(path: str, window):
    """``load_image``'s window as a ``display.View``: "auto"/None/the file window = the file's own window (its VOI
    LUT, else the full range), a preset of ``display`` (OHIF's CT presets, "Auto (1-99%)"), or (centre, width);
    multi-frame files show their middle frame."""
    from . import display
    n = display.metadata(path).n_frames
    frame = n // 2 if n > 1 else 0
    if window is None or window in ("auto", display.FILE_WINDOW):
        return display.View(frame=frame)
    if isinstance(window, str):
        if window not in window_names():
            raise MedvizError(f"unknown window preset '{window}' ({', '.join(window_names())})", file=path,
                              field="window")
        return display.View(preset=window, frame=frame)
    centre, width = window
    return display.View(window=(float(width), float(centre)), frame=frame)


def load_image(path: str, *, window: str | tuple | None = "auto", record=None,
               expected_sha256: str | None = None) -> Image.Image:
    """Decode an image for display/encoding as RGB. DICOM is windowed (preset name or (centre, width)).

    The file is read once, checked like at ingest (pixel limit from the header for every format) and, when
    ``expected_sha256`` is given or the file is content-addressed, its SHA-256 is verified first."""
    try:
        data = read_bounded(path)
    except TooBig as e:
        raise MedvizError(f"file is {limits.human_bytes(e.size)}, over the image size limit", file=path,
                          record=record, field="image") from None
    except OSError as e:
        raise MedvizError(f"cannot read image ({e.strerror})", file=path, record=record, field="image") from None
    verify_content(path, data, expected_sha256, record=record)
    fmt = validate_image_bytes(data, name=path, record=record)
    if fmt == "dicom":
        from . import display          # the one DICOM display pipeline (VOI LUT, MONOCHROME1); it imports us
        return display.render(path, _dicom_view(path, window)).convert("RGB")
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            return im.convert("RGB")
    except Exception as e:  # noqa: BLE001
        raise MedvizError(f"cannot decode image ({limits.clip(e, 160)})", file=path, record=record,
                          field="image") from None
