"""Statistics: failure modes × modality × model, tag trends, image-blind vs. tags, reviewer agreement (with
bootstrap intervals, for a filter) and the disagreement queue. Every table has human labels, counts beside
rates and one line on how to read it (texts and tables: medviz.readmodels.statistics)."""
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from medviz.annotations import ALL_MODELS
from medviz.annotations.stats import DIMENSIONS
from medviz.readmodels import statistics as S
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
st.caption("How to read this: " + S.HOW_TO_READ["tag_counts"])
st.dataframe(S.tag_count_table(overall), hide_index=True)
# a plain-text list as well (readable by screen readers and by the browser test)
st.markdown("  \n".join(f"{code(r.tag)}: **{int(r.count)}** of {int(r.n)}" for r in overall.itertuples()))

dims = (dim, "model") if by_model else (dim,)
by = data.failure_stats(ctx.db_path, ctx.benchmark_id, dims, level, excl)
if not by.empty:
    st.subheader("Failure modes × " + " × ".join(dims))
    if by_model:
        by = by.assign(**{dim: by[dim].astype(str) + " | " + by["model"].astype(str)})
    rates, labels = S.heat_cells(by, dim)
    fig = go.Figure(go.Heatmap(z=rates.to_numpy(), x=[html_text(x) for x in rates.columns], y=[html_text(y) for y in rates.index],
                               text=labels.to_numpy(), texttemplate="%{text}", colorscale="Reds", zmin=0, zmax=1,
                               colorbar=dict(title="share of reviewed units", tickformat=".0%"),
                               hovertemplate="%{y} · %{x}: %{text}<extra></extra>"))
    fig.update_layout(height=max(260, 40 * len(rates) + 120), margin=dict(l=10, r=10, t=20, b=10),
                      xaxis_title=dim, yaxis_title="failure mode")
    st.caption("How to read this: " + S.HOW_TO_READ["heatmap"])
    st.plotly_chart(fig, key="st_heat")
    bars = charts.rate_bars(by, "tag", "rate", "ci_low", "ci_high", color=dim,
                            title="Share of reviewed units with each failure mode (95% Wilson intervals)")
    bars.update_layout(yaxis_title="share of reviewed units", xaxis_title="failure mode")
    st.caption("How to read this: " + S.HOW_TO_READ["bars"])
    st.plotly_chart(bars, key="st_bars")
    with st.expander("Failure mode × model table for a paper (CSV, Markdown, LaTeX)", icon=":material/table:"):
        from medviz.export import export_failure_modes
        ec = st.columns(3)
        for col, (fmt, ext) in zip(ec, (("csv", "csv"), ("markdown", "md"), ("latex", "tex"))):
            col.download_button(fmt.capitalize() if fmt != "csv" else "CSV",
                                lambda fmt=fmt: export_failure_modes(ctx.store, ctx.benchmark_id, fmt=fmt,
                                                                     models=list(ctx.models), level=level),
                                file_name=f"medviz-failure-modes-{ctx.benchmark_id}.{ext}", key=f"st_dl_{fmt}",
                                on_click="ignore")

st.subheader("Tag trends")
tr = data.tag_trends(ctx.db_path, ctx.benchmark_id)
if not tr.empty:
    fig = px.bar(tr, x="period", y="count", color="tag",
                 labels={"period": "day saved", "count": "annotations saved", "tag": "failure-mode group"})
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=10, b=10))
    st.caption("How to read this: " + S.HOW_TO_READ["trends"])
    st.plotly_chart(fig, key="st_trend")

st.subheader("Image-blind answers vs. clinicians' “image ignored” tags")
bvt = data.blind_vs_tags(ctx.db_path, ctx.benchmark_id)
if bvt.empty:
    st.caption("No pairs with predictions.")
else:
    st.caption("How to read this: " + S.HOW_TO_READ["blind"])
    st.dataframe(S.blind_table(bvt), hide_index=True)

st.subheader("Agreement between reviewers")
facets = data.facets(ctx.db_path, ctx.benchmark_id)
tag_choices = sorted({t.split("/")[0] for t in overall["tag"]} | set(overall["tag"]))
ANY = "(any)"
fc = st.columns(3)
f_mod = fc[0].selectbox("Modality", [ANY] + facets["modalities"], key="st_ag_mod")
f_model = fc[1].selectbox("Model", [ANY] + list(ctx.models) + [ALL_MODELS], key="st_ag_model",
                          format_func=lambda m: "annotations for all models" if m == ALL_MODELS else m)
f_tag = fc[2].selectbox("Units where someone applied", [ANY] + tag_choices, key="st_ag_tag")
ag = data.agreement(ctx.db_path, ctx.benchmark_id, None if f_mod == ANY else f_mod,
                    None if f_model == ANY else f_model, None if f_tag == ANY else f_tag)
st.caption(f"{ag.get('n_units', 0)} reviewed units in this filter, {ag.get('n_multi', 0)} with ≥ 2 reviewers; "
           f"reviewers: {md(', '.join(ag.get('reviewers', [])), inline=True) or '–'}")
if len(ag.get("cohen", [])):
    st.markdown("**Cohen's κ per pair of reviewers**")
    st.caption("How to read this: " + S.HOW_TO_READ["cohen"])
    st.dataframe(S.cohen_table(ag["cohen"]), hide_index=True)
if len(ag.get("per_tag", [])):
    st.markdown("**Krippendorff's α per tag**")
    st.caption("How to read this: " + S.HOW_TO_READ["alpha"])
    st.dataframe(S.alpha_table(ag["per_tag"]), hide_index=True)
if not len(ag.get("cohen", [])):
    st.caption("Agreement needs at least two reviewers on the same items (in this filter).")
st.subheader("Disagreement queue (for adjudicators)")
q = data.disagreement_queue(ctx.db_path, ctx.benchmark_id)
if q.empty:
    st.caption("No disagreements.")
else:
    st.caption("How to read this: " + S.HOW_TO_READ["queue"])
    table = S.disagreement_table(q)
    table["open"] = [navigation.url(navigation.REVIEW, pair=t, b=ctx.benchmark_id) for t in q["target_id"]]
    st.dataframe(table, hide_index=True, column_config={
        "open": st.column_config.LinkColumn("open in Review", display_text="review",
                                            help="Opens the pair in Review")})
