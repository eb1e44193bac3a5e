"""Review: one pair (or item) at a time: both images, every model's answer, the encoder's view, tagging."""
import streamlit as st

from medviz.ui import review_body
from medviz.ui.context import current

ctx = current()
if not ctx.benchmark_id:
    st.title("Review")
    st.stop()
review_body.render()
