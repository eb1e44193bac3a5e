"""Double reading on the Review page: the reading-plan form (adjudicators) and the adjudication panel, where
an adjudicator sees every reading of a disputed pair side by side and settles it. Rules live in
``medviz.annotations.reading``; this module only draws them."""
from __future__ import annotations

import html

import streamlit as st

from .. import annotations as ann
from ..annotations import identity, reading
from ..errors import MedvizError
from ..readmodels.review import UnitView
from . import data

BLIND_CHOICES = {"default": "blind when ≥ 2 readers", "on": "always blind", "off": "never blind"}


def plan_form(ctx) -> None:
    """Readers per pair and blind mode for this benchmark (inside the Review options popover)."""
    plan = data.reading_plan(ctx.db_path, ctx.benchmark_id, data.plan_generation())
    mode = "blind" if plan.is_blind else "open"
    st.caption(f"Reading plan: {plan.readers} reader(s) per pair, {mode} reading.")
    if not identity.can_adjudicate(ctx.reviewer):
        return
    c1, c2 = st.columns(2)
    c1.number_input("Readers per pair", 1, reading.MAX_READERS, value=plan.readers, key="plan_readers")
    cur = "default" if plan.blind is None else ("on" if plan.blind else "off")
    c2.selectbox("Blind", list(BLIND_CHOICES), index=list(BLIND_CHOICES).index(cur), format_func=BLIND_CHOICES.get,
                 key="plan_blind")
    st.button("Save reading plan", key="plan_save", on_click=_save_plan, args=(ctx,))


def _save_plan(ctx) -> None:
    ss = st.session_state
    blind = {"default": None, "on": True, "off": False}[ss.get("plan_blind", "default")]
    try:
        p = reading.set_plan(ctx.store, ctx.benchmark_id, int(ss.get("plan_readers", 1)), blind, by=ctx.reviewer)
        data.after_write()          # the cached plan and blind-mode reads (data.reading_plan) are per generation
        ss["_nav_msg"] = f"Reading plan saved: {p.readers} reader(s) per pair, {'blind' if p.is_blind else 'open'}."
    except MedvizError as e:
        ss["_nav_msg"] = str(e)


def render_adjudication(ctx, uv: UnitView) -> None:
    """For adjudicators, on a pair awaiting adjudication: every reading side by side and the settle form."""
    who = ctx.reviewer
    if not identity.can_adjudicate(who):
        return
    if uv.unit_id not in reading.adjudication_targets(ctx.store, ctx.benchmark_id):
        return
    side = reading.readings(ctx.store, ctx.benchmark_id, uv.unit_id, who)
    tax = ann.active_taxonomy(ctx.store)
    with st.container(border=True):
        st.markdown("#### Adjudicate: the readers disagree")
        cols = st.columns(max(1, len(side)))
        for col, r in zip(cols, side.itertuples()):
            scope = r.model if isinstance(r.model, str) else "all models"
            col.html(f"<div data-testid='mv-reading'><b>{html.escape(r.reviewer)}</b> ({html.escape(scope)})<br>"
                     + "<br>".join(f"• {html.escape(tax.label(t))}" for t in r.tags)
                     + f"<br><span style='color:#555'>confidence {int(r.confidence)}</span>"
                     + (f"<br><i>{html.escape(r.rationale)}</i>" if r.rationale else "")
                     + (f"<br>proposed answer: {html.escape(r.proposed_answer)}"
                        if isinstance(r.proposed_answer, str) else "") + "</div>")
        sets = [set(t) for t in side["tags"]]
        common = sorted(set.intersection(*sets)) if sets else []
        k = f"adj::{ctx.benchmark_id}::{uv.unit_id}"
        # start from what the readers share, else from the first reading (the adjudicator edits either)
        st.session_state.setdefault(f"{k}::tags", common or (sorted(sets[0]) if sets else []))
        st.multiselect("Consensus tags", tax.paths(), key=f"{k}::tags")
        st.text_input("Adjudication note", key=f"{k}::why", placeholder="why these tags")
        st.button("Settle", type="primary", key=f"{k}::settle", icon=":material/gavel:",
                  on_click=_settle, args=(ctx, uv, k))


def _settle(ctx, uv: UnitView, k: str) -> None:
    ss = st.session_state
    tags = list(ss.get(f"{k}::tags") or [])
    if not tags:
        ss["_nav_msg"] = "Choose at least one consensus tag before settling."
        return
    try:
        reading.settle(ctx.store, ctx.benchmark_id, "pair" if uv.is_pair else "item", uv.unit_id, tags,
                       ctx.reviewer, rationale=ss.get(f"{k}::why") or "")
    except MedvizError as e:
        ss["_nav_msg"] = str(e)
        return
    data.after_write(units=((ctx.benchmark_id, uv.unit_id),))
    ss["_saved_msg"] = f"Settled {uv.unit_id}: " + ", ".join(t.rsplit("/", 1)[-1] for t in tags)
