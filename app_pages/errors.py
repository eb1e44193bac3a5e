"""Errors: slice the (pair, model) outcomes by modality, category, department, tag, reviewer and similarity;
48 rows per page; selecting a row opens it in Review. The URL carries the filter."""
import streamlit as st

from medviz.readmodels.errors import error_table
from medviz.readmodels.lists import ReviewList
from medviz.ui import bulk_tag, data, filters, navigation
from medviz.ui.context import current

ctx = current()
st.title("Errors")
if not ctx.benchmark_id:
    st.stop()
f = filters.filter_bar(ctx)
fj = data.filter_json(f)
page_key = f"err_page::{ctx.benchmark_id}::{fj}::{ctx.models}"
try:
    url_page = max(0, int(st.query_params.get("p") or 1) - 1)      # the URL counts pages from 1
except ValueError:
    url_page = 0
page = st.session_state.get(page_key, url_page)
rows, counts = data.error_page(ctx.db_path, ctx.benchmark_id, ctx.models, fj, page)
if counts["page"]:
    st.query_params["p"] = str(counts["page"] + 1)
elif "p" in st.query_params:
    del st.query_params["p"]
subset = tuple(ctx.models) if ctx.model_info is not None and set(ctx.models) != set(ctx.model_info["model"]) else ()
review_list = ReviewList.errors(f, subset, counts["page"])      # what Review steps through, and "back" returns to
m = st.columns(6)
m[0].metric("rows (pair × model)", f"{counts['rows']:,}")
m[1].metric("pairs / items", f"{counts['units']:,}")
m[2].metric("wrong", f"{counts['wrong']:,}")
m[3].metric("confused", f"{counts['confused']:,}")
m[4].metric("invalid", f"{counts['invalid']:,}")
m[5].metric("correct", f"{counts['correct']:,}")
if rows.empty:
    st.info("Nothing matches these filters.")
    st.stop()
table = error_table(ctx.store, rows)
st.caption("Select a row to open it in Review.")
event = st.dataframe(
    table, hide_index=True, on_select="rerun", selection_mode="single-row", key=f"errtable::{page_key}",
    row_height=64, height=min(len(table), 12) * 64 + 40,
    column_config={
        "image 1": st.column_config.ImageColumn("image 1", width="small"),
        "image 2": st.column_config.ImageColumn("image 2", width="small"),
        "BiomedCLIP_sim": st.column_config.NumberColumn(format="%.3f"),
        "DINO_sim": st.column_config.NumberColumn(format="%.3f"),
    })
sel = event.selection.rows if event is not None else []
if sel:
    unit = str(table.iloc[sel[0]]["pair / item"])
    navigation.switch(navigation.REVIEW, pair=unit, b=ctx.benchmark_id, **review_list.to_query())
c = st.columns([1, 1, 2, 2], vertical_alignment="center")


def _go(n):
    st.session_state[page_key] = n


c[0].button("Previous page", on_click=_go, args=(max(0, counts["page"] - 1),), disabled=counts["page"] == 0,
            key="err_prev")
c[1].button("Next page", on_click=_go, args=(counts["page"] + 1,), disabled=counts["page"] >= counts["pages"] - 1,
            key="err_next")
c[2].markdown(f"Page **{counts['page'] + 1}** of {counts['pages']}")


def _review_all():
    st.session_state["review_queue"] = "errors"
    first = data.error_unit_ids(ctx.db_path, ctx.benchmark_id, ctx.models, fj)
    navigation.request(navigation.REVIEW, pair=first[0], b=ctx.benchmark_id, **review_list.to_query())


c[3].button("Review these in order", icon=":material/compare:", key="err_review", on_click=_review_all)

bulk_tag.form(ctx, data.list_unit_ids(ctx.db_path, ctx.benchmark_id, review_list.items()), "errors",
              "of this filter (every page)")

with st.expander("Export this list (every page)", icon=":material/download:"):
    from medviz.export import export_outcomes
    st.caption("One row per pair/item × model matching the filters above: outcome, letters answered and correct "
               "per image, question, modality, categories and a link that opens the row in Review.")
    ec = st.columns(2)
    for col, fmt in zip(ec, ("csv", "parquet")):
        col.download_button(
            f"Outcomes {fmt.upper()}", lambda fmt=fmt: export_outcomes(ctx.store, ctx.benchmark_id, None, fmt=fmt,
                                                                       models=list(ctx.models), error_filter=f),
            file_name=f"medviz-outcomes-{ctx.benchmark_id}.{fmt}", key=f"err_dl_{fmt}", on_click="ignore",
            mime="text/csv" if fmt == "csv" else "application/vnd.apache.parquet")
