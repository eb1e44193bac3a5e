"""Review: one pair (or item) at a time: both images, every model's answer, the encoder's view, tagging.

The body is one keyed fragment (``review_body.render``): J/K/N, save -> next pair and undo rerun only it, not
the whole app; a quick-tag toggle reruns only the tagging form inside it."""
import streamlit as st

from medviz.ui import review_body
from medviz.ui.context import current

ctx = current()
if not ctx.benchmark_id:
    st.title("Review")
    st.stop()
review_body.render()
