"""The encoder panel on the Review page: encoder cosine next to the benchmark's own similarities, the
weight-free visual difference, the quadrant, the encoder's option alignment and a patch agreement map.
Every number names the encoder and weights that produced it; nothing is shown for an encoder not computed."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from .. import encoders as enc
from ..errors import MedvizError
from ..readmodels.review import UnitView
from . import data
from .text import html_text, md


PATCH_OPEN = "patch_map_open"      # session key of the patch map expander's open state


def _fmt(v, pct=False):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "–"
    return f"{v:.1%}" if pct else f"{v:.3f}"


def not_computed(ctx) -> None:
    from . import jobs
    st.info(f"Encoder similarities are not computed for **{md(ctx.benchmark_id)}**. Start the job here (`pixels` "
            "needs no weights; other encoders are on the Data page):")
    jobs.embed_button(ctx, "pixels", key="embed-review")


def _metric(label: str, value: str, help_: str | None = None) -> str:
    tip = f"<abbr title='{html_text(help_).replace('<br>', '&#10;')}'>?</abbr>" if help_ else ""
    return (f"<div data-testid='mv-metric'><div class='mv-metric-l'>{html_text(label)}{tip}</div>"
            f"<div class='mv-metric-v'>{html_text(value)}</div></div>")


def _metrics(*items) -> str:
    return "<div class='mv-metrics'>" + "".join(_metric(*i) for i in items) + "</div>"


def _alert(kind: str, bold: str, text: str) -> str:
    return f"<div class='mv-alert mv-alert-{kind}' role='alert'><b>{html_text(bold)}</b> {html_text(text)}</div>"


def _cap(text: str) -> str:
    return f"<div class='mv-cap'>{text}</div>"


def head_html(uv: UnitView) -> str:
    """The panel's heading and the benchmark's own similarities (before the encoder picker), as HTML styled by
    the Review page's stylesheet (``slot_details.REVIEW_CSS``)."""
    out = "<h4 class='mv-h4'>Could the encoder tell the images apart?</h4>"
    if uv.biomedclip_sim is not None or uv.dino_sim is not None:
        out += _metrics(("BiomedCLIP_sim (benchmark)", _fmt(uv.biomedclip_sim)),
                        ("DINO_sim (benchmark)", _fmt(uv.dino_sim)))
    if not uv.is_pair:
        out += _cap("Single item: pair explanations apply to pairs only.")
    return out


def explanation_html(ex) -> str:
    """What the chosen encoder says about the pair (after the encoder picker); every value escaped."""
    kind = f" · {ex.encoder_kind}" if ex.encoder_kind else ""
    out = [_cap(f"Encoder <b>{html_text(ex.encoder_label)}</b> (<code>{html_text(ex.encoder_id)}</code>"
                f"{html_text(kind)}), weights <code>{html_text(ex.weights_digest or '–')}</code>")]
    vis = ex.visual
    out.append(_metrics(
        ("Encoder cosine", _fmt(ex.encoder_cosine), ex.encoder_reason or None),
        ("SSIM (looks alike)", _fmt(getattr(vis, "ssim", None)), ex.visual_reason or
         "Structural similarity of the two images after resizing: low = they look different."),
        ("Histogram distance", _fmt(getattr(vis, "hist_distance", None)),
         "Distance between the two intensity histograms: high = different brightness distributions.")))
    if ex.encoder_reason:
        out.append(_cap(html_text(ex.encoder_reason)))
    if ex.quadrant:
        out.append(_alert("warning" if "encoder-blind" in ex.quadrant else "success", "Quadrant:", ex.quadrant))
        out.append(_cap(html_text(f"Based on {ex.quadrant_basis}; thresholds: similar ≥ "
                                  f"{ex.thresholds.encoder_similar:.2f}, different if SSIM < "
                                  f"{ex.thresholds.visually_different:.2f}")))
    if ex.options:
        rows = []
        for n, o in enumerate(ex.options, start=1):
            mark = "✓" if o.correct and o.choice == o.correct else "✗"
            rows.append(f"<li>Image {n}: encoder picks <b>{html_text(o.choice)}</b> {mark} "
                        f"(correct {html_text(o.correct or '–')})</li>")
        out.append("<p style='margin:0'><b>Option alignment (zero-shot)</b></p><ul>" + "".join(rows) + "</ul>")
        if ex.encoder_blind:
            out.append(_alert("error", "Encoder-blind:", "the encoder picks the same option for both images — the "
                              "information was lost before any language model saw it."))
    elif ex.options_reason:
        out.append(_cap("Option alignment: " + html_text(ex.options_reason)))
    return "<div class='mv-enc'>" + "".join(out) + "</div>"


def render(ctx, uv: UnitView) -> None:
    st.html(head_html(uv))
    if not uv.is_pair:
        return
    try:
        computed = data.computed_encoders(ctx.db_path, ctx.benchmark_id)
    except MedvizError as e:
        st.warning(md(e))
        computed = []
    if not computed:
        not_computed(ctx)
        return
    eid = st.selectbox("Encoder", computed, key="encoder_review")
    try:
        ex = data.explanation(ctx.db_path, ctx.benchmark_id, uv.unit_id, eid)
    except MedvizError as e:
        st.warning(md(e))
        return
    st.html(explanation_html(ex))
    # lazy: the map is computed only while the expander is open (opening it reruns the Review body)
    patch = st.expander("Patch agreement map", expanded=False, key=PATCH_OPEN, on_change="rerun")
    if patch.open:
        with patch:
            _patch_map(ctx, uv, eid)


@st.cache_resource(show_spinner=False, max_entries=64)
def _patch_figure(path: str, benchmark_id: str, unit_id: str, eid: str) -> tuple[go.Figure | None, str | None]:
    """(figure, None) or (None, reason) for a pair's patch agreement map; cached per pair and encoder (and
    prefetched while the map is open). Callers must not modify the figure."""
    if eid == "pixels":
        try:
            enc.load_encoder(eid)
        except MedvizError:
            pass
    try:
        m1, m2 = enc.patch_similarity_map(data.store(path), benchmark_id, unit_id, eid)
    except MedvizError as e:
        return None, str(e)
    fig = make_subplots(rows=1, cols=2, subplot_titles=["Image 1", "Image 2"], horizontal_spacing=0.05)
    for i, m in enumerate((m1, m2), start=1):
        fig.add_trace(go.Heatmap(z=np.asarray(m), colorscale="RdYlGn", zmin=-1, zmax=1, showscale=i == 2),
                      row=1, col=i)
    fig.update_yaxes(autorange="reversed", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(height=260, margin=dict(l=0, r=0, t=30, b=0))
    return fig, None


def warm(ctx, unit_id: str, eid: str) -> None:
    """Prefetch the patch map of a pair (called from the Review prefetch thread)."""
    _patch_figure(ctx.db_path, ctx.benchmark_id, unit_id, eid)


def _patch_map(ctx, uv, eid) -> None:
    fig, reason = _patch_figure(ctx.db_path, ctx.benchmark_id, uv.unit_id, eid)
    if fig is None:
        st.caption(md(reason))
        return
    st.plotly_chart(fig, key=f"patch::{uv.unit_id}")
    st.caption("Per patch: best cosine against any patch of the other image. Red = no counterpart there.")
