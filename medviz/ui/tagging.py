"""The tagging form on the Review page: taxonomy picker (with number-key quick tags), rationale,
confidence, model scope and answer-key dispute. Saving goes through the annotation package's single
writer and returns after the commit; an existing annotation of the same reviewer and scope is revised
(a new revision), never overwritten."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from .. import annotations as ann
from ..errors import MedvizError
from ..readmodels.review import UnitView
from . import data

ALL_MODELS = "(all models)"
QUICK_KEYS = "123456789"


def existing(ctx, unit_ids: list[str]) -> pd.DataFrame:
    cur = data.current_annotations(ctx.db_path, ctx.benchmark_id)
    if cur is None or len(cur) == 0:
        return pd.DataFrame()
    return cur[cur["target_id"].isin(unit_ids)]


def quick_tags(tax) -> list[str]:
    """The tags bound to keys 1..9: the taxonomy's leaves in file order."""
    return tax.leaves()[: len(QUICK_KEYS)]


def render(ctx, uv: UnitView, on_saved=None) -> None:
    store = ctx.store
    tax = ann.active_taxonomy(store)
    unit = uv.unit_id
    target_type = "pair" if uv.is_pair else "item"
    target_id = unit
    prev = existing(ctx, [target_id])
    if not prev.empty:
        with st.expander(f"{len(prev)} annotation(s) on this {target_type}", expanded=False):
            for r in prev.itertuples():
                scope = r.model if isinstance(r.model, str) else "all models"
                st.markdown(f"- **{r.reviewer}** ({scope}): {', '.join(r.tags)} · confidence {r.confidence}"
                            + (f" — _{r.rationale}_" if r.rationale else ""))
    who = ctx.reviewer
    if who is None:
        st.info("Enter your name in the sidebar (or sign in) to tag this pair.")
        return
    name = getattr(who, "name", who)
    k = f"{ctx.benchmark_id}::{unit}"
    tags_key, scope_key = f"tags::{k}", f"scope::{k}"
    mine = prev[prev["reviewer"] == name] if not prev.empty else prev
    if tags_key not in st.session_state and not mine.empty:   # edit mode: start from my latest annotation
        last = mine.iloc[-1]
        st.session_state[tags_key] = [t for t in last["tags"] if t in tax]
        st.session_state[f"why::{k}"] = last["rationale"] or ""
        st.session_state[f"conf::{k}"] = int(last["confidence"])
        st.session_state[scope_key] = last["model"] if isinstance(last["model"], str) else ALL_MODELS
    st.session_state.setdefault(tags_key, [])
    quick = quick_tags(tax)

    def toggle(tag):
        cur = list(st.session_state.get(tags_key, []))
        st.session_state[tags_key] = [t for t in cur if t != tag] if tag in cur else cur + [tag]

    st.markdown("**Tag this failure** · keys 1–9 toggle the quick tags, Ctrl+Enter saves")
    qcols = st.columns(2)
    for i, tag in enumerate(quick):
        on = tag in st.session_state[tags_key]
        qcols[i % 2].button(f"{'☑' if on else '☐'} {tax.label(tag)}", key=f"q{i}::{k}", on_click=toggle,
                            args=(tag,), shortcut=QUICK_KEYS[i], width="stretch",
                            help=tax.description(tag) or tag)
    st.multiselect("Failure modes", tax.paths(), key=tags_key, placeholder="choose one or more tags",
                   help=f"Taxonomy {tax.version}")
    scopes = [ALL_MODELS] + list(ctx.models)
    if st.session_state.get(scope_key) not in scopes:
        st.session_state[scope_key] = ALL_MODELS
    c1, c2 = st.columns([2, 1])
    c1.selectbox("Applies to", scopes, key=scope_key)
    st.session_state.setdefault(f"conf::{k}", 3)
    c2.select_slider("Confidence", options=[1, 2, 3, 4, 5], key=f"conf::{k}")
    st.text_area("Rationale", key=f"why::{k}", height=80,
                 placeholder="What did the model miss? What would a radiologist look at?")
    disputed_path = tax.path_for_role("answer_key_disputed")
    if disputed_path and disputed_path in st.session_state[tags_key]:
        st.text_input("Your proposed answer (answer key disputed)", key=f"prop::{k}",
                      placeholder="e.g. image 1: B, image 2: A")
    elif disputed_path:
        st.caption(f"To dispute the answer key, add the tag “{tax.label(disputed_path)}”.")
    msg = st.session_state.pop(f"_save_err::{k}", None)
    if msg:
        st.error(msg)
    st.button("Save tag", type="primary", key=f"save::{k}", shortcut="Ctrl+Enter", icon=":material/save:",
              on_click=_save, args=(ctx, uv, name, mine, k, on_saved))


def _save(ctx, uv, name, mine, k, on_saved) -> None:
    """Button callback (runs before the next script run, so the page re-renders already saved/moved on)."""
    ss = st.session_state
    tags = list(ss.get(f"tags::{k}", []))
    if not tags:
        ss[f"_save_err::{k}"] = "Choose at least one failure mode before saving (keys 1–9 or the list)."
        return
    scope = ss.get(f"scope::{k}", ALL_MODELS)
    model = None if scope == ALL_MODELS else scope
    base = None
    if not mine.empty:
        same = mine[mine["model"].map(lambda m: (m if isinstance(m, str) else None) == model)]
        if not same.empty:
            base = same.iloc[-1]
    a = ann.Annotation(benchmark_id=ctx.benchmark_id, target_type="pair" if uv.is_pair else "item",
                       target_id=uv.unit_id, tags=tags, reviewer=name, model=model,
                       rationale=ss.get(f"why::{k}") or "", confidence=int(ss.get(f"conf::{k}", 3)),
                       proposed_answer=ss.get(f"prop::{k}") or None,
                       annotation_id=None if base is None else base["annotation_id"],
                       revision=None if base is None else int(base["revision"]))
    try:
        ann.get_writer(ctx.store).save(a, ctx.reviewer)
    except MedvizError as e:
        ss[f"_save_err::{k}"] = str(e)
        return
    data.after_write()
    ss["_saved_msg"] = f"Saved {uv.unit_id}: " + ", ".join(t.rsplit("/", 1)[-1] for t in tags)
    if on_saved:
        on_saved()
