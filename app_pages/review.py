"""Review: one pair (or item) at a time: both images, every model's answer, the encoder's view, tagging."""
import streamlit as st

from medviz.ui import data, encoder_panel, pair_viewer, reading_panel, review_keys, review_nav, tagging
from medviz.ui.context import current
from medviz.ui.text import md

ctx = current()
if not ctx.benchmark_id:
    st.title("Review")
    st.stop()
nav = review_nav.Navigator(ctx)
unit = nav.current_unit()
if unit is None:
    st.title("Review")
    st.info("This benchmark has no items to review.")
    st.stop()
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
    tagging.render(ctx, uv, on_saved=nav.after_save, on_undo=nav.go)
nav.prefetch(unit)
