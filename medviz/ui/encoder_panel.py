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
from .text import code, md


def _fmt(v, pct=False):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "–"
    return f"{v:.1%}" if pct else f"{v:.3f}"


def not_computed(ctx) -> None:
    from . import jobs
    st.info(f"Encoder similarities are not computed for **{md(ctx.benchmark_id)}**. Start the job here (`pixels` "
            "needs no weights; other encoders are on the Data page):")
    jobs.embed_button(ctx, "pixels", key="embed-review")


def render(ctx, uv: UnitView) -> None:
    if uv.biomedclip_sim is not None or uv.dino_sim is not None:
        c = st.columns(2)
        c[0].metric("BiomedCLIP_sim (benchmark)", _fmt(uv.biomedclip_sim))
        c[1].metric("DINO_sim (benchmark)", _fmt(uv.dino_sim))
    if not uv.is_pair:
        st.caption("Single item: pair explanations apply to pairs only.")
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
    kind = f" · {ex.encoder_kind}" if ex.encoder_kind else ""
    st.caption(f"Encoder **{md(ex.encoder_label, inline=True)}** ({code(ex.encoder_id)}{md(kind, inline=True)}), "
               f"weights {code(ex.weights_digest or '–')}")
    c = st.columns(3)
    c[0].metric("Encoder cosine", _fmt(ex.encoder_cosine), help=md(ex.encoder_reason) or None)
    vis = ex.visual
    c[1].metric("SSIM (looks alike)", _fmt(getattr(vis, "ssim", None)), help=md(ex.visual_reason) or
                "Structural similarity of the two images after resizing: low = they look different.")
    c[2].metric("Histogram distance", _fmt(getattr(vis, "hist_distance", None)), help="Distance between the two intensity histograms: high = different brightness distributions.")
    if ex.encoder_reason:
        st.caption(md(ex.encoder_reason))
    if ex.quadrant:
        blindish = "encoder-blind" in ex.quadrant
        (st.warning if blindish else st.success)(f"**Quadrant:** {ex.quadrant}")
        st.caption(f"Based on {ex.quadrant_basis}; thresholds: similar ≥ {ex.thresholds.encoder_similar:.2f}, "
                   f"different if SSIM < {ex.thresholds.visually_different:.2f}")
    if ex.options:
        rows = []
        for n, o in enumerate(ex.options, start=1):
            mark = "✓" if o.correct and o.choice == o.correct else "✗"
            rows.append(f"- Image {n}: encoder picks **{md(o.choice, inline=True)}** {mark} "
                        f"(correct {md(o.correct or '–', inline=True)})")
        st.markdown("**Option alignment (zero-shot)**\n" + "\n".join(rows))
        if ex.encoder_blind:
            st.error("**Encoder-blind:** the encoder picks the same option for both images — the information "
                     "was lost before any language model saw it.")
    elif ex.options_reason:
        st.caption(f"Option alignment: {md(ex.options_reason)}")
    with st.expander("Patch agreement map", expanded=False):
        _patch_map(ctx, uv, eid)


def _patch_map(ctx, uv, eid) -> None:
    if eid == "pixels":
        try:
            enc.load_encoder(eid)
        except MedvizError:
            pass
    try:
        m1, m2 = enc.patch_similarity_map(ctx.store, ctx.benchmark_id, uv.unit_id, eid)
    except MedvizError as e:
        st.caption(md(e))
        return
    fig = make_subplots(rows=1, cols=2, subplot_titles=["Image 1", "Image 2"], horizontal_spacing=0.05)
    for i, m in enumerate((m1, m2), start=1):
        fig.add_trace(go.Heatmap(z=np.asarray(m), colorscale="RdYlGn", zmin=-1, zmax=1, showscale=i == 2),
                      row=1, col=i)
    fig.update_yaxes(autorange="reversed", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(height=260, margin=dict(l=0, r=0, t=30, b=0))
    st.plotly_chart(fig, key=f"patch::{uv.unit_id}")
    st.caption("Per patch: best cosine against any patch of the other image. Red = no counterpart there.")
