"""Statistics: failure modes × modality × model, tag trends, reviewer agreement, disagreement queue."""
import plotly.express as px
import streamlit as st

from medviz.annotations.stats import DIMENSIONS
from medviz.ui import charts, data, navigation
from medviz.ui.context import current
from medviz.ui.text import code, html_text, md

ctx = current()
st.title("Statistics")
if not ctx.benchmark_id:
    st.stop()
DIMS = [d for d in ("modality", "model", "category", "department", "task") if d in DIMENSIONS]
c = st.columns([1, 1, 1])
dim = c[0].selectbox("Break down by", DIMS, key="st_dim")
by_model = dim != "model" and c[0].toggle("… and by model", key="st_by_model")
level = c[1].radio("Tag level", ["top", "tag"], format_func={"top": "top-level", "tag": "full tag"}.get,
                   horizontal=True, key="st_level")
excl = c[2].toggle("Leave out disputed answer keys", key="st_excl")
overall = data.failure_stats(ctx.db_path, ctx.benchmark_id, (), "tag", excl)
if overall.empty:
    st.info("No tags saved yet for this benchmark. Tag pairs on the Review page and they are counted here.")
    st.stop()
st.subheader("Tag counts")
tab = overall[["tag", "count", "n", "rate", "ci_low", "ci_high"]].rename(
    columns={"count": "units tagged", "n": "units reviewed"})
st.dataframe(tab, hide_index=True, column_config={
    "rate": st.column_config.NumberColumn(format="percent"),
    "ci_low": st.column_config.NumberColumn("95% CI low", format="percent"),
    "ci_high": st.column_config.NumberColumn("95% CI high", format="percent")})
# a plain-text list as well (readable by screen readers and by the browser test)
st.markdown("  \n".join(f"{code(r.tag)}: **{int(r.count)}** of {int(r.n)}" for r in overall.itertuples()))

dims = (dim, "model") if by_model else (dim,)
by = data.failure_stats(ctx.db_path, ctx.benchmark_id, dims, level, excl)
if not by.empty:
    st.subheader("Failure modes × " + " × ".join(dims))
    if by_model:
        by = by.assign(**{dim: by[dim].astype(str) + " | " + by["model"].astype(str)})
    heat = by.pivot_table(index="tag", columns=dim, values="rate", aggfunc="first").fillna(0)
    heat.index, heat.columns = [html_text(v) for v in heat.index], [html_text(v) for v in heat.columns]
    fig = px.imshow(heat, text_auto=".0%", color_continuous_scale="Reds", zmin=0, zmax=1, aspect="auto")
    fig.update_layout(height=max(260, 40 * len(heat) + 120), margin=dict(l=10, r=10, t=20, b=10),
                      coloraxis_colorbar=dict(tickformat=".0%"))
    st.plotly_chart(fig, key="st_heat")
    st.plotly_chart(charts.rate_bars(by, "tag", "rate", "ci_low", "ci_high", color=dim,
                                     title="Rate with 95% Wilson intervals"), key="st_bars")

st.subheader("Tag trends")
tr = data.tag_trends(ctx.db_path, ctx.benchmark_id)
if not tr.empty:
    fig = px.bar(tr.assign(tag=tr["tag"].map(html_text)), x="period", y="count", color="tag")
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=10, b=10))
    st.plotly_chart(fig, key="st_trend")

st.subheader("Image-blind answers vs. clinicians' “image ignored” tags")
bvt = data.blind_vs_tags(ctx.db_path, ctx.benchmark_id)
if bvt.empty:
    st.caption("No pairs with predictions.")
else:
    st.dataframe(bvt, hide_index=True)

st.subheader("Agreement between reviewers")
ag = data.agreement(ctx.db_path, ctx.benchmark_id)
st.caption(f"{ag.get('n_units', 0)} reviewed units, {ag.get('n_multi', 0)} with ≥ 2 reviewers; "
           f"reviewers: {', '.join(md(r, inline=True) for r in ag.get('reviewers', [])) or '–'}")
if len(ag.get("cohen", [])):
    st.markdown("Cohen's κ per pair of reviewers (tag decisions on shared items)")
    st.dataframe(ag["cohen"], hide_index=True)
if len(ag.get("per_tag", [])):
    st.markdown("Krippendorff's α per tag (items with ≥ 2 reviewers)")
    st.dataframe(ag["per_tag"], hide_index=True)
if not len(ag.get("cohen", [])):
    st.caption("Agreement needs at least two reviewers on the same items.")
st.subheader("Disagreement queue (for adjudicators)")
q = data.disagreement_queue(ctx.db_path, ctx.benchmark_id)
if q.empty:
    st.caption("No disagreements.")
else:
    q = q.assign(open=[navigation.url(navigation.REVIEW, pair=t, b=ctx.benchmark_id) for t in q["target_id"]])
    st.dataframe(q, hide_index=True, column_config={
        "open": st.column_config.LinkColumn("open in Review", display_text="review",
                                            help="Opens the pair in Review")})
