"""The Review page's body as one keyed ``st.fragment`` (``BODY``): navigation bar, images, answers, encoder
panel and tagging form. Moving to another pair (J / K / N, "Go to", save -> next pair, undo) reruns only this
fragment, which reads the open unit from session state and writes it to the URL (``?pair=``); the sidebar and
the rest of the app are not rerun. The tagging form inside it is a fragment of its own, so a quick-tag toggle
reruns only the form; its save and undo callbacks rerun this fragment by key (``st.rerun(BODY)``)."""
from __future__ import annotations

import streamlit as st

from . import data, encoder_panel, pair_viewer, reading_panel, review_keys, review_nav, tagging
from .context import current
from .guard import guard
from .text import md

BODY = "review_body"


@st.fragment(key=BODY)
def render() -> None:
    with guard():
        _body()


def _body() -> None:
    ctx = current()      # the Context of the last full run (the sidebar is not rerun with this fragment)
    nav = review_nav.Navigator(ctx)
    unit = nav.current_unit()
    if unit is None:
        st.title("Review")
        st.info("This benchmark has no items to review.")
        return
    uv = data.unit_view(ctx.db_path, ctx.benchmark_id, unit, ctx.models)
    review_keys.install(f"{ctx.benchmark_id}/{unit}")      # R, ?, and back to the top when a new pair opens
    st.html("<style>.stMainBlockContainer{padding-top:2.6rem}</style>")
    nav.render_bar(uv)
    st.markdown(f"### {md(uv.slots[0].question, inline=True)}")
    views, fit = pair_viewer.render_controls(uv) if any(s.image_ok for s in uv.slots) else (None, pair_viewer.FIT)
    pair_viewer.render_images(ctx.store, uv, views, fit, key=f"fig::{unit}")
    pair_viewer.render_metadata(uv)
    pair_viewer.render_slot_details(uv)
    st.divider()
    left, right = st.columns([1, 1], gap="large")
    with left:
        st.markdown("#### Could the encoder tell the images apart?")
        encoder_panel.render(ctx, uv)
    with right:
        reading_panel.render_adjudication(ctx, uv)
        tagging.render(ctx, uv, on_saved=nav.after_save, on_undo=nav.go, rerun=BODY)
    nav.prefetch(unit)
