"""Errors: slice the (pair, model) outcomes by modality, category, department, tag, reviewer and similarity;
48 rows per page; selecting a row opens it in Review. The URL carries the filter."""
import streamlit as st

from medviz.readmodels.errors import error_table
from medviz.ui import data, filters, navigation
from medviz.ui.context import current

ctx = current()
st.title("Errors")
if not ctx.benchmark_id:
    st.stop()
f = filters.filter_bar(ctx)
fj = data.filter_json(f)
page_key = f"err_page::{ctx.benchmark_id}::{fj}::{ctx.models}"
page = st.session_state.get(page_key, 0)
rows, counts = data.error_page(ctx.db_path, ctx.benchmark_id, ctx.models, fj, page)
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
    navigation.switch(navigation.REVIEW, pair=unit, b=ctx.benchmark_id)
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
    navigation.request(navigation.REVIEW, pair=first[0], b=ctx.benchmark_id)


c[3].button("Review these in order", icon=":material/compare:", key="err_review", on_click=_review_all)
