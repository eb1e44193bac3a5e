"""Mouse and keyboard gestures on the pair viewer's images, as a PACS does them:

- **window/level drag**: right button (or Ctrl + left button) dragged on either image; left-right changes the
  window width, up-down the level (down = higher level = darker, as in OHIF). While dragging the browser shows
  the new window at once (an SVG colour transform on the drawn image, approximate); on release Python receives
  ``{kind: "wl", slot, ww, wl}``, bounds it, sets the controls' window numbers and the image is drawn again
  through ``medviz.display`` with the exact window (one rerun per drag). Linked: the other image follows (the
  same window when it has the same modality — same units —, else the same relative change of its own
  window, so a CT window never lands on an MR); unlinked: only the dragged image.
- **frames**: Shift + mouse wheel over a multi-frame image, or ↑/↓ (PageUp/PageDown: a tenth of the frames)
  while the pointer is over it, moves through its frames; a burst of steps is sent as one frame number
  (one rerun). Plain wheel stays zoom, left drag pan, double-click reset (plotly's own).
- **Tab** from a quick-tag button (or from nowhere) goes to the rationale box.
- A small W/L (and frame) label in the corner of each image, like a PACS overlay.

The browser side is one ``st.components.v2`` component, registered once at import and mounted under the
images on every run (it draws nothing; its script installs the listeners once per tab and takes the new
slot data on each mount). Nothing the browser sends is trusted: ``parse`` checks the pair, the slot, finite
numbers, width > 0 and bounds, the frame range; the rest is pure functions tested without Streamlit."""
from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass

import streamlit as st

from .. import display
from ..display import View
from ..errors import MedvizError

KEY = "mv_gestures"             # the component's key: one instance, re-mounted cheaply on every run
PENDING = "_mv_gesture"         # the last gesture received, applied by ``apply_pending`` before the controls
MAX_LEVEL = 1e7                 # |level| bound and width bound (any stored value fits: 32-bit HU, PET, dose)
MIN_WIDTH = 1.0                 # display.View's own minimum window width


@dataclass(frozen=True)
class WindowDrag:
    slot: int
    width: float
    level: float


@dataclass(frozen=True)
class FrameStep:
    slot: int
    frame: int                  # 1-based, as the frame slider shows it


def _number(v) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def parse(payload, unit: str, frames: dict[int, int]) -> WindowDrag | FrameStep | None:
    """A gesture from the browser, checked: it must name the pair on screen (``unit``) and one of its slots
    (``frames``: slot -> number of frames); a window needs finite numbers (width clamped to MIN_WIDTH..MAX_LEVEL,
    level to ±MAX_LEVEL); a frame step a multi-frame slot (frame clamped to 1..n). None when it is not one."""
    if not isinstance(payload, dict) or payload.get("unit") != unit:
        return None
    slot = payload.get("slot")
    if isinstance(slot, bool) or not isinstance(slot, int) or slot not in frames:
        return None
    kind = payload.get("kind")
    if kind == "wl":
        w, c = _number(payload.get("ww")), _number(payload.get("wl"))
        if w is None or c is None:
            return None
        return WindowDrag(slot, round(min(max(w, MIN_WIDTH), MAX_LEVEL), 2), round(min(max(c, -MAX_LEVEL), MAX_LEVEL), 2))
    if kind == "frame":
        f = payload.get("frame")
        if isinstance(f, bool) or not isinstance(f, int) or frames[slot] <= 1:
            return None
        return FrameStep(slot, min(max(f, 1), frames[slot]))
    return None


def _group(modality: str | None) -> str:
    """Images whose windows share units: one DICOM modality, or every image without one (PNG/JPEG gray values)."""
    return (modality or "").upper()


def window_updates(g: WindowDrag, linked: bool, modalities: dict[int, str | None],
                   windows: dict[int, tuple[float, float]]) -> dict[str, float]:
    """The controls' state after a window drag: the dragged slot gets exactly the dragged window; linked, every
    other slot follows — the same window where the modality is the same, else the same relative change
    (width ratio, level shift in widths) applied to its own current window (``windows``: slot -> (w, c) shown
    before the drag). Unlinked: the other slots are untouched."""
    out = {f"vw_ww_{g.slot}": g.width, f"vw_wl_{g.slot}": g.level}
    if not linked:
        return out
    w0, c0 = windows.get(g.slot, (g.width, g.level))
    for j, mod in modalities.items():
        if j == g.slot:
            continue
        if _group(mod) == _group(modalities.get(g.slot)):
            w, c = g.width, g.level
        elif j in windows:
            wj, cj = windows[j]
            w = wj * g.width / max(w0, MIN_WIDTH)
            c = cj + (g.level - c0) / max(w0, MIN_WIDTH) * wj
        else:
            continue
        out[f"vw_ww_{j}"] = round(min(max(w, MIN_WIDTH), MAX_LEVEL), 2)
        out[f"vw_wl_{j}"] = round(min(max(c, -MAX_LEVEL), MAX_LEVEL), 2)
    return out


# ---------------------------------------------------------------------------------------------------------
# what the browser needs per image (cached: no decoding or percentile per rerun)

@functools.lru_cache(maxsize=512)
def _info(path: str, mtime_ns: int, view: View) -> dict:
    d = display.decode(path, view.frame)
    lo, hi = display.value_range(d)
    win = display.shown_window(d, view)
    return {"ww": win[0] if win else max(hi - lo, 1.0), "wl": win[1] if win else (lo + hi) / 2,
            "voi": win is None, "lo": lo, "hi": hi, "frames": d.meta.n_frames, "mod": _group(d.meta.modality),
            "inv": (d.meta.photometric == "MONOCHROME1" and not d.meta.is_color) != bool(view.invert),
            "b": float(view.brightness) / 255.0, "c": float(view.contrast)}


def slot_info(path: str | None, view: View) -> dict | None:
    """The window an image is shown with, its value range and frames, for the overlay and the drag; None when
    it cannot be shown."""
    try:
        return _info(path, os.stat(path).st_mtime_ns, view) if path else None
    except (OSError, MedvizError):
        return None


def shown_windows(infos: dict[int, dict]) -> dict[int, tuple[float, float]]:
    return {i: (x["ww"], x["wl"]) for i, x in infos.items()}


# ---------------------------------------------------------------------------------------------------------
# Streamlit side

def _on_gesture() -> None:
    """The component's callback (before the script runs): keep the gesture for ``apply_pending``."""
    res = st.session_state.get(KEY)
    g = res.get("gesture") if isinstance(res, dict) else None
    if g is not None:
        st.session_state[PENDING] = g


def apply_pending(unit: str, slots: list, modalities: list[str | None], views: list[View], linked: bool) -> bool:
    """Apply the gesture received for this run (if any) to the controls' state; call before the controls'
    widgets are drawn. ``slots``: the unit's slots (with ``image_path``), ``views`` what each shows now."""
    ss = st.session_state
    payload = ss.pop(PENDING, None)
    if payload is None:
        return False
    infos = {i: x for i, x in ((i, slot_info(s.image_path, v)) for i, (s, v) in enumerate(zip(slots, views), 1))
             if x is not None}
    g = parse(payload, unit, {i: x["frames"] for i, x in infos.items()})
    if g is None:
        return False
    if isinstance(g, FrameStep):
        ss[f"vw_frame_{g.slot}"] = g.frame
        return True
    updates = window_updates(g, linked, {i: modalities[i - 1] for i in infos}, shown_windows(infos))
    for k, v in updates.items():
        ss[k] = v
    return True


def mount(unit: str, slots: list, views: list[View] | None, linked: bool) -> None:
    """The gestures' browser side under the images, with what it needs of every shown image."""
    images = {}
    for i, (s, v) in enumerate(zip(slots, views or [View() for _ in slots]), 1):
        x = slot_info(s.image_path, v) if getattr(s, "image_ok", False) else None
        if x is not None:
            images[str(i)] = {**x, "frame": v.frame + 1}
    _component()(key=KEY, data={"unit": unit, "linked": bool(linked), "images": images},
                 on_gesture_change=_on_gesture)


@functools.cache
def _component():
    return st.components.v2.component("medviz_viewer_gestures", js=_JS, isolate_styles=False)


with open(os.path.join(os.path.dirname(__file__), "viewer_gestures.js"), encoding="utf-8") as _f:
    _JS = _f.read()       # the browser side (shipped as package data, pyproject's ui/*.js)
