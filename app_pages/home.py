"""Leaderboard: official metrics per model with Wilson intervals and the random-guess line."""
import streamlit as st

from medviz.ui import charts, data, upload
from medviz.ui.context import current

ctx = current()
st.title("Leaderboard")
if not ctx.benchmark_id:
    st.stop()
with st.expander("What am I looking at?", expanded=False):
    st.markdown(
        "Each bar is one model's score on the chosen benchmark, computed exactly as the benchmark's official "
        "scorer does. The whisker is a 95% **Wilson interval**: with few questions, two models whose intervals "
        "overlap may not really differ. The dashed line is **random guessing**.\n\n"
        "- **Set accuracy** (MediConfusion pairs): both images of a pair answered right; random = 25%.\n"
        "- **Individual accuracy**: single images answered right.\n"
        "- **Confusion**: the model gave the same answer for two images whose correct answers differ.\n"
        "- **Image-blind**: share of pairs answered identically for both images: the model may not look.\n"
        "- **Invalid**: answers from which no option letter could be read.\n\n"
        "Models labelled *synthetic* are test data, not real model outputs.")
upload.predictions_uploader(ctx)
lb = data.leaderboard(ctx.db_path, ctx.benchmark_id, ctx.models)
if lb.empty:
    st.info("No predictions for the selected models. Import some with "
            f"`medviz predictions import {ctx.benchmark_id} FILE --db {ctx.db_path}`.")
    st.stop()
metric = charts.headline_metric(lb)
options = [m for m in ("set_accuracy", "individual_accuracy", "accuracy", "confusion", "image_blind", "invalid")
           if m in lb.columns and lb[m].notna().any()]
metric = st.segmented_control("Metric", options, default=metric, format_func=charts.METRIC_LABELS.get,
                              key="lb_metric") or metric
st.html(charts.leaderboard_html(lb, metric))
st.dataframe(charts.leaderboard_table(lb), hide_index=True)
