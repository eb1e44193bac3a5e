"""Review: one pair (or item) at a time: both images, every model's answer, the encoder's view, tagging."""
import streamlit as st

from medviz.images import WINDOW_PRESETS
from medviz.ui import data, encoder_panel, pair_viewer, review_nav, tagging
from medviz.ui.context import current

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
nav.render_bar(uv)
st.markdown(f"### {uv.slots[0].question}")
window = "auto"
if any(s.is_dicom for s in uv.slots):
    window = st.selectbox("Window / level (DICOM)", list(WINDOW_PRESETS), key="window",
                          help="CT presets use Hounsfield units; 'auto' uses the file's own window.")
pair_viewer.render_images(ctx.store, uv, window, key=f"fig::{unit}")
pair_viewer.render_slot_details(uv)
st.divider()
left, right = st.columns([1, 1], gap="large")
with left:
    st.markdown("#### Could the encoder tell the images apart?")
    encoder_panel.render(ctx, uv)
with right:
    tagging.render(ctx, uv, on_saved=nav.after_save)
nav.prefetch(unit)
