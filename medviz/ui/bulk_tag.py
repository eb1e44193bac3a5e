"""The bulk tagging form (Errors filter, Embeddings lasso): the same tags on every unit of a selection, saved
by ``medviz.annotations.bulk.tag_units`` as one annotation per unit by the signed-in reviewer."""
from __future__ import annotations

import streamlit as st

from .. import annotations as ann
from ..annotations.bulk import MAX_UNITS, tag_units
from ..errors import MedvizError
from . import data
from .tagging import ALL_MODELS


def form(ctx, unit_ids: list[str], key: str, what: str) -> None:
    """An expander tagging all ``unit_ids`` (``what`` says where they come from, e.g. "of this filter")."""
    n = len(unit_ids)
    with st.expander(f"Tag all {n} pairs / items {what}", icon=":material/sell:"):
        msg = st.session_state.pop(f"_bulk_msg::{key}", None)
        if msg:
            (st.success if msg[0] == "ok" else st.error)(msg[1])
        if ctx.reviewer is None:
            st.info("Enter your name in the sidebar (or sign in) to tag.")
            return
        if n == 0:
            st.caption("Nothing selected.")
            return
        tax = ann.active_taxonomy(ctx.store)
        st.multiselect("Failure modes", tax.leaves(), key=f"bulk_tags::{key}", format_func=tax.label)
        c = st.columns([1, 2])
        c[0].selectbox("For", [ALL_MODELS] + list(ctx.models), key=f"bulk_scope::{key}")
        c[1].text_input("Rationale (recorded on each)", key=f"bulk_why::{key}", max_chars=2000)
        st.caption(f"Saves {n} separate annotations by **{getattr(ctx.reviewer, 'display_name', '')}**, "
                   f"all or nothing (at most {MAX_UNITS} at once); each can be edited or retracted in Review.")
        st.button(f"Tag {n} units", key=f"bulk_go::{key}", type="primary", icon=":material/sell:",
                  on_click=_save, args=(ctx, list(unit_ids), key))


def _save(ctx, unit_ids: list[str], key: str) -> None:
    ss = st.session_state
    tags = list(ss.get(f"bulk_tags::{key}") or [])
    scope = ss.get(f"bulk_scope::{key}", ALL_MODELS)
    try:
        saved = tag_units(ctx.store, ctx.benchmark_id, unit_ids, tags, ctx.reviewer,
                          model=None if scope == ALL_MODELS else scope, rationale=ss.get(f"bulk_why::{key}") or "")
    except MedvizError as e:
        ss[f"_bulk_msg::{key}"] = ("error", str(e))
        return
    data.after_write()
    ss[f"bulk_tags::{key}"] = []
    ss[f"_bulk_msg::{key}"] = ("ok", f"Saved {len(saved)} annotations: " + ", ".join(t.rsplit("/", 1)[-1]
                                                                                  for t in tags))
