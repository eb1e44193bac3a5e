"""The pair viewer: both images large, side by side, in one plotly figure whose subplots share their axes, so
zooming or panning one image zooms/pans the other (scroll to zoom, drag to pan, double-click to reset).

Reader controls above the images (``render_controls``), every image PNG/JPEG or DICOM: window/level presets
that follow each image's modality (CT presets only on CT), window width/level, brightness/contrast, invert,
fit-to-panel (default: every image scaled to fill its panel, whatever its pixel size) or 1:1 (one image pixel
= one unit, so sizes compare), reset, and "Link both images" (on by default; off: each image adjusted alone).
Multi-frame DICOM gets a frame slider. Pixels come from ``medviz.display``.

A slot without an image file gets a compact placeholder: item id, the benchmark's caption, the provided
similarities, and the command/folder that supplies the images.
Below each image: the question's options, the correct one, and every selected model's answer."""
from __future__ import annotations

import base64
import functools
import html
import os

import plotly.graph_objects as go
import streamlit as st

from .. import display
from ..display import View
from ..errors import MedvizError
from ..readmodels.review import Slot, UnitView
from . import viewer_gestures
from .text import html_text, md

DISPLAY_SIZE = 768          # the panel box (plot units); images larger than this are reduced to it
FIG_HEIGHT = 470
FIT, ONE_TO_ONE = "Fit", "1:1"
_SPACING = 0.015            # between panels, as a share of the figure's width
_PNG_MAX_PIXELS = 400_000   # gray images up to this size travel as lossless PNG (exact pixel values)


# ---------------------------------------------------------------------------------------------------------
# state -> one display.View per slot (no widgets here; tested directly)

DEFAULTS = {"vw_link": True, "vw_fit": FIT, "vw_preset": display.FILE_WINDOW, "vw_bright": 0, "vw_contrast": 1.0,
            "vw_invert": False}


def _slot_defaults(i: int) -> dict:
    return {f"vw_preset_{i}": display.FILE_WINDOW, f"vw_ww_{i}": None, f"vw_wl_{i}": None, f"vw_bright_{i}": 0,
            f"vw_contrast_{i}": 1.0, f"vw_invert_{i}": False, f"vw_frame_{i}": 1}


def views_for(state, modalities: list[str | None]) -> list[View]:
    """The View of every slot from the controls' state. Linked: one preset/brightness/contrast/invert for all,
    a preset only where it applies to that image's modality (a CT preset leaves an MR image on its own window).
    Unlinked: each slot's own preset. Either way a slot's window width/level (``vw_ww_i``/``vw_wl_i``: typed, or
    set by a window/level drag) overrides its preset; choosing a preset clears them."""
    g = {**DEFAULTS, **{k: v for k, v in dict(state).items() if k.startswith("vw_")}}
    views = []
    for i, mod in enumerate(modalities, start=1):
        s = {**_slot_defaults(i), **{k: v for k, v in g.items() if k.endswith(f"_{i}")}}
        frame = max(0, int(s[f"vw_frame_{i}"] or 1) - 1)
        ww, wl = s[f"vw_ww_{i}"], s[f"vw_wl_{i}"]
        window = (float(ww), float(wl)) if ww is not None and wl is not None else None
        if g["vw_link"]:
            preset = g["vw_preset"] if display.preset_applies(g["vw_preset"], mod) else display.FILE_WINDOW
            views.append(View(preset=preset, window=window, brightness=float(g["vw_bright"]),
                              contrast=float(g["vw_contrast"]), invert=bool(g["vw_invert"]), frame=frame))
            continue
        preset = s[f"vw_preset_{i}"] if display.preset_applies(s[f"vw_preset_{i}"], mod) else display.FILE_WINDOW
        views.append(View(preset=preset, window=window, brightness=float(s[f"vw_bright_{i}"]),
                          contrast=float(s[f"vw_contrast_{i}"]), invert=bool(s[f"vw_invert_{i}"]), frame=frame))
    return views


def placement(size: tuple[int, int], mode: str, box: int = DISPLAY_SIZE, largest: int | None = None) -> dict:
    """Where an image of ``size`` (w, h) pixels sits in its panel: go.Image x0/y0/dx/dy in panel units.
    Fit: scaled so its longer side fills the box, centred. 1:1: one pixel per unit of the largest image's
    box (``largest`` = the longest side among the pair), centred, so relative sizes are true."""
    w, h = size
    scale = box / max(w, h) if mode == FIT else box / max(largest or max(w, h), 1)
    x0 = (box - w * scale) / 2 + scale / 2
    y0 = (box - h * scale) / 2 + scale / 2
    return {"x0": x0, "y0": y0, "dx": scale, "dy": scale}


# ---------------------------------------------------------------------------------------------------------
# pixels

@functools.lru_cache(maxsize=256)
def _encoded(path: str, mtime_ns: int, view: View) -> tuple[str, tuple[int, int], tuple[int, int]]:
    """(data URI, shown size, original size) of an image under a view, reduced to the panel box."""
    d = display.decode(path, view.frame)
    im = display.render(path, view, box=DISPLAY_SIZE)
    gray = not d.meta.is_color
    import io
    buf = io.BytesIO()
    if gray and im.width * im.height <= _PNG_MAX_PIXELS:
        im.convert("L").save(buf, format="PNG", compress_level=1)
        mime = "image/png"
    else:
        im.save(buf, format="JPEG", quality=90)
        mime = "image/jpeg"
    uri = f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"
    return uri, im.size, (d.meta.width, d.meta.height)


def image_uri(path: str, view: View = View()) -> tuple[str, tuple[int, int], tuple[int, int]]:
    """Cached rendering of one image (MedvizError with the reason when it cannot be shown)."""
    if not path or not os.path.exists(path):
        raise MedvizError("image file is missing", file=path or "(no path)", field="image")
    return _encoded(path, os.stat(path).st_mtime_ns, view)


def warm(path: str) -> None:
    """Decode and encode an image under the default view (the prefetch of the next pair)."""
    try:
        image_uri(path)
    except MedvizError:
        pass


def _mtime(path: str | None) -> int | None:
    try:
        return os.stat(path).st_mtime_ns if path else None
    except OSError:
        return None


_FIGURES = display.BoundedCache(64)      # figure_for's cache: built figures are only read afterwards


def figure_for(uv: UnitView, views: list[View], mode: str = FIT) -> tuple[go.Figure, list[str]]:
    """``pair_figure`` cached per unit, image files (path and modification time), views and fit mode: building
    a plotly figure costs more than drawing it, and the prefetch builds the next pair's one ahead of time.
    Callers must not modify the returned figure."""
    key = (uv.unit_id, uv.is_pair, tuple((s.slot, s.item_id, s.image_path, _mtime(s.image_path)) for s in uv.slots),
           tuple(views), mode)
    hit = _FIGURES.get(key)
    if hit is not None:
        return hit
    built = pair_figure(uv, views, mode)
    _FIGURES.put(key, built)
    return built


def warm_unit(uv: UnitView, state: dict) -> None:
    """Prefetch: the figure of ``uv`` under the viewer controls' ``state`` (a snapshot of the session's
    ``vw_*`` keys), so opening it costs no decoding and no figure building."""
    if not any(s.image_ok for s in uv.slots):
        return
    state = {k: v for k, v in state.items() if not k.startswith(("vw_ww_", "vw_wl_"))}   # cleared on opening it
    views = views_for(state, [slot_modality(s) for s in uv.slots])
    figure_for(uv, views, state.get("vw_fit") or FIT)


def slot_meta(s: Slot) -> display.Meta | None:
    if not s.image_ok:
        return None
    try:
        return display.metadata(s.image_path)
    except MedvizError:
        return None


def slot_modality(s: Slot) -> str | None:
    """The modality that decides presets: the DICOM header's; PNG/JPEG have none (their gray values are not HU)."""
    m = slot_meta(s)
    return m.modality if m is not None else None


# ---------------------------------------------------------------------------------------------------------
# figure

def pair_figure(uv: UnitView, views: list[View], mode: str = FIT) -> tuple[go.Figure, list[str]]:
    """One subplot per slot that has a displayable image; problems for the ones that cannot be shown."""
    shown, problems = [], []
    for s, v in zip(uv.slots, views):
        try:
            uri, size, orig = image_uri(s.image_path, v)
            shown.append((s, uri, size, orig))
        except MedvizError as e:
            problems.append(f"Image {s.slot} ({s.item_id}): {e.detail}")
    n = max(len(shown), 1)
    largest = max((max(size) for _s, _u, size, _o in shown), default=DISPLAY_SIZE)
    width = (1 - _SPACING * (n - 1)) / n          # each panel's share of the figure (make_subplots' layout)
    axes = dict(showticklabels=False, showgrid=False, zeroline=False, ticks="", showline=False)
    layout = dict(height=FIG_HEIGHT, margin=dict(l=0, r=0, t=30, b=0), dragmode="pan", showlegend=False,
                  plot_bgcolor="#111", uirevision=uv.unit_id, template="none", annotations=[],
                  font=dict(family='"Source Sans", "Source Sans Pro", sans-serif', color="#31333F"))
    traces = []
    for i, (s, uri, size, orig) in enumerate(shown, start=1):
        sx = "" if i == 1 else str(i)
        x0 = (i - 1) * (width + _SPACING)
        # synchronised zoom / pan: every panel's axes match the first one's; each keeps its pixels square
        layout[f"xaxis{sx}"] = dict(domain=[x0, x0 + width], anchor=f"y{sx}", range=[0, DISPLAY_SIZE],
                                    constrain="domain", **axes, **({"matches": "x"} if i > 1 else {}))
        layout[f"yaxis{sx}"] = dict(domain=[0, 1], anchor=f"x{sx}", range=[DISPLAY_SIZE, 0], constrain="domain",
                                    scaleanchor=f"x{sx}", **axes, **({"matches": "y"} if i > 1 else {}))
        title = (f"Image {s.slot}: {html_text(s.item_id)} · {orig[0]}×{orig[1]}" if uv.is_pair
                 else f"Item {html_text(s.item_id)} · {orig[0]}×{orig[1]}")
        layout["annotations"].append(dict(text=title, x=x0 + width / 2, y=1.0, xref="paper", yref="paper",
                                          xanchor="center", yanchor="bottom", showarrow=False, font=dict(size=16)))
        traces.append(go.Image(source=uri, hoverinfo="skip", name=f"slot{s.slot}", xaxis=f"x{sx}", yaxis=f"y{sx}",
                               **placement(size, mode, largest=largest)))
    if not shown:
        layout["xaxis"] = dict(range=[0, DISPLAY_SIZE], **axes)
        layout["yaxis"] = dict(range=[DISPLAY_SIZE, 0], **axes)
    # one validation pass (``make_subplots`` + ``update_*`` cost ~10 ms per pair); no template: the viewer sets
    # every colour it uses, and a template is ~7 KB of JSON that plotly.js applies on every draw
    fig = go.Figure(data=traces, layout=layout)
    return fig, problems


# ---------------------------------------------------------------------------------------------------------
# widgets

def keep_controls() -> None:
    """Before any widget: brightness/contrast (whose sliders exist only while "Adjust" is open) survive the
    runs without their sliders (Streamlit drops the value of a widget a run did not build)."""
    ss = st.session_state
    for k in ("vw_bright", "vw_contrast"):
        ss[k] = ss.get(k, DEFAULTS[k])


def reset_controls(n: int = 2) -> None:
    ss = st.session_state
    for k, v in DEFAULTS.items():
        if k != "vw_link":
            ss[k] = v
    for i in range(1, n + 1):
        for k, v in _slot_defaults(i).items():
            if k.startswith(("vw_ww_", "vw_wl_")):
                ss.pop(k, None)
            else:
                ss[k] = v


def render_controls(uv: UnitView) -> tuple[list[View], str]:
    """The toolbar above the images; returns the View of every slot and the fit mode."""
    ss = st.session_state
    for k, v in DEFAULTS.items():
        ss.setdefault(k, v)
    metas = [slot_meta(s) for s in uv.slots]
    mods = [m.modality if m else None for m in metas]
    if ss.get("_vw_unit") != uv.unit_id:    # a window (typed or dragged) belongs to the images it was set on
        ss["_vw_unit"] = uv.unit_id
        _clear_windows(len(uv.slots))
    if viewer_gestures.PENDING in ss:       # a drag or a frame step from the browser, before the widgets
        viewer_gestures.apply_pending(uv.unit_id, uv.slots, mods, views_for(ss, mods), bool(ss["vw_link"]))
    union = []
    for m in mods:
        union += [p for p in display.presets_for(m) if p not in union]
    # one horizontal container, not columns: a column is one more element for the browser to draw per run
    bar = st.container(horizontal=True, vertical_alignment="center", gap="small")
    bar.segmented_control("Size", [FIT, ONE_TO_ONE], key="vw_fit", label_visibility="collapsed",
                          help="Fit: each image fills its panel. 1:1: same pixel scale for both images.")
    bar.toggle("Link", key="vw_link", help="Link both images: one setting for both (a preset applies only "
                                           "to images of its modality). Off: adjust each image alone.")
    if ss["vw_link"]:
        if ss.get("vw_preset") not in union:
            ss["vw_preset"] = display.FILE_WINDOW
        bar.selectbox("Window preset", union, key="vw_preset", label_visibility="collapsed",
                      on_change=_clear_windows, args=(len(uv.slots),), width="stretch",
                      help="CT presets (OHIF values, Hounsfield units) apply to CT images only; 'File window' "
                           "is the DICOM file's own window (full range for PNG/JPEG).")
        bar.toggle("Invert", key="vw_invert")
        with bar.popover("Adjust", icon=":material/contrast:", key="viewer_adjust",
                         on_change="rerun") as adjust:       # lazy: sliders built only while open
            if adjust.open:
                st.slider("Brightness", -100, 100, key="vw_bright")
                st.slider("Contrast", 0.2, 4.0, step=0.1, key="vw_contrast")
    else:
        with bar.popover("Image 1 / Image 2 settings", icon=":material/tune:", width="stretch"):
            cols = st.columns(len(uv.slots))
            for i, (col, s, m) in enumerate(zip(cols, uv.slots, mods), start=1):
                with col:
                    _slot_controls(i, s, m)
        bar.button("Invert", key="vw_inv_each", on_click=_invert_all, args=(len(uv.slots),))
        bar.caption("unlinked", width="content")
    bar.button("Reset", key="vw_reset", on_click=reset_controls, args=(len(uv.slots),),
               icon=":material/restart_alt:", help="Back to the file windows, fit, no inversion")
    return views_for(ss, mods), ss.get("vw_fit") or FIT


def render_frame_sliders(uv: UnitView) -> None:
    """A frame slider under the images for every multi-frame image (so the images stay above the fold)."""
    ss = st.session_state
    multi = [(i, m) for i, m in enumerate((slot_meta(s) for s in uv.slots), start=1)
             if m is not None and m.n_frames > 1]
    if not multi:
        return
    fc = st.columns(len(uv.slots))
    for i, m in multi:
        key = f"vw_frame_{i}"
        if int(ss.get(key, 1) or 1) > m.n_frames:
            ss[key] = 1
        fc[i - 1].slider(f"Image {i} frame", 1, m.n_frames, key=key, help=f"{m.n_frames} frames")


def _clear_windows(n: int, only: int | None = None) -> None:
    """A preset chosen: the windows set by hand or by a drag give way to it."""
    for i in ([only] if only else range(1, n + 1)):
        st.session_state.pop(f"vw_ww_{i}", None)
        st.session_state.pop(f"vw_wl_{i}", None)


def _invert_all(n: int) -> None:
    for i in range(1, n + 1):
        st.session_state[f"vw_invert_{i}"] = not st.session_state.get(f"vw_invert_{i}", False)


def _slot_controls(i: int, s: Slot, modality: str | None) -> None:
    ss = st.session_state
    st.markdown(f"**Image {i}** · {html.escape(modality or 'no DICOM modality')}")
    opts = display.presets_for(modality)
    if ss.get(f"vw_preset_{i}") not in opts:
        ss[f"vw_preset_{i}"] = display.FILE_WINDOW
    st.selectbox("Preset", opts, key=f"vw_preset_{i}", on_change=_clear_windows, args=(0, i))
    a, b = st.columns(2)
    a.number_input("Window width", min_value=1.0, max_value=viewer_gestures.MAX_LEVEL, key=f"vw_ww_{i}",
                   value=ss.get(f"vw_ww_{i}"), placeholder="preset")
    b.number_input("Window level", min_value=-viewer_gestures.MAX_LEVEL, max_value=viewer_gestures.MAX_LEVEL,
                   key=f"vw_wl_{i}", value=ss.get(f"vw_wl_{i}"), placeholder="preset")
    st.slider("Brightness", -100, 100, key=f"vw_bright_{i}", value=ss.get(f"vw_bright_{i}", 0))
    st.slider("Contrast", 0.2, 4.0, step=0.1, key=f"vw_contrast_{i}", value=ss.get(f"vw_contrast_{i}", 1.0))
    st.toggle("Invert", key=f"vw_invert_{i}", value=ss.get(f"vw_invert_{i}", False))


def render_images(store, uv: UnitView, views: list[View] | None = None, mode: str = FIT,
                  key: str = "pairfig") -> None:
    views = views or [View() for _ in uv.slots]
    present = [s for s in uv.slots if s.image_ok]
    if present:
        fig, problems = figure_for(uv, views, mode)
        if fig.data:
            st.plotly_chart(fig, key=key, theme=None, config={"scrollZoom": True, "displaylogo": False,
                                                              "modeBarButtonsToRemove": ["select2d", "lasso2d"]})
        for p in problems:
            st.warning(md(p))
        render_frame_sliders(uv)
    viewer_gestures.mount(uv.unit_id, uv.slots, views, bool(st.session_state.get("vw_link", True)))
    missing = [s for s in uv.slots if not s.image_ok]
    if missing:
        st.html(CSS + "<div class='mv-ph-row'>" + "".join(placeholder_html(uv, s) for s in missing) + "</div>")


def supply_hint(uv: UnitView) -> str:
    """The exact folder and command that supply a missing image."""
    if uv.kind == "mediconfusion":
        folder = uv.images_dir or "DIR"
        return (f"MediConfusion images are <im_N_local>.jpg files in {folder} (written by the benchmark's "
                f"download script); then run: medviz ingest dataset.json --kind mediconfusion --images {folder}")
    if uv.images_dir:
        return f"expected under {uv.images_dir}; re-run medviz ingest with --images pointing at the images folder"
    return "this benchmark was ingested without an images folder; re-run medviz ingest with --images DIR"


def _why_missing(s: Slot, where) -> str:
    """The reason found at ingest (empty, truncated, over the pixel limit, outside the folder...), else the
    path that was not there."""
    if s.image_status != "ok" and s.image_reason:
        return f"image {s.image_status}: {where} — {s.image_reason}"
    return f"image file missing: {where}"


def placeholder_html(uv: UnitView, s: Slot) -> str:
    """A compact card for a slot without an image (all text escaped)."""
    esc = html.escape
    where = s.image_path or s.image_ref or "(no path)"
    sims = " · ".join(f"{n} {v:.3f}" for n, v in (("BiomedCLIP sim", uv.biomedclip_sim), ("DINO sim", uv.dino_sim))
                      if v is not None)
    cap = esc(s.caption) if s.caption else "<i>no caption in the benchmark</i>"
    return (f"<div class='mv-ph' data-testid='mv-placeholder'><div class='mv-ph-h'>Image {s.slot} · "
            f"<code>{esc(s.item_id)}</code> · {esc(_why_missing(s, where))}</div>"
            f"<div class='mv-ph-cap'><b>Caption:</b> {cap}</div>"
            + (f"<div class='mv-ph-sim'>Provided similarities: {esc(sims)}</div>" if sims else "")
            + f"<div class='mv-ph-cmd'>{esc(supply_hint(uv))}</div></div>")


# the review page's stylesheet: answers and options under the images (slot_details), missing-image placeholders
CSS = """<style>
.mv-ans {font-size: 0.9rem; padding: 4px 8px; margin: 3px 0; border-radius: 6px; border-left: 4px solid #ccc;}
.mv-wrong {border-left-color: #d62728; background: #fdecea;}
.mv-right {border-left-color: #2ca02c; background: #edf7ed;}
.mv-raw {color: #555; font-size: 0.82rem;}
.mv-syn {background: #ffe8a3; color: #5c4400; border-radius: 4px; padding: 0 4px; font-size: 0.75rem;}
.mv-opt {margin: 1px 0;}
.mv-mark {font-weight: 700;}
.mv-wrong .mv-mark {color: #d62728;}
.mv-right .mv-mark {color: #2ca02c;}
.mv-correct {font-weight: 600; color: #1b5e20;}
.mv-ph-row {display: flex; gap: 12px;}
.mv-ph {flex: 1; border: 1px dashed #999; border-radius: 8px; padding: 8px 12px; background: #f7f7f9;
        font-size: 0.9rem;}
.mv-ph-h {font-weight: 600; margin-bottom: 4px;}
.mv-ph-cap {margin: 4px 0;}
.mv-ph-sim {color: #444; font-size: 0.85rem;}
.mv-ph-cmd {color: #555; font-family: monospace; font-size: 0.78rem; margin-top: 4px; word-break: break-all;}
.mv-meta td {padding: 1px 8px 1px 0; font-size: 0.85rem;}
</style>"""
