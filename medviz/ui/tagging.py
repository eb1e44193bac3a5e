"""The tagging form on the Review page: taxonomy picker (with number-key quick tags), rationale,
confidence, model scope and answer-key dispute. Saving goes through the annotation package's single
writer and returns after the commit; an existing annotation of the same reviewer and scope is revised
(a new revision), never overwritten.

The form is an ``st.fragment``: a tag toggle reruns only the form (the images are not redrawn) and reads no
database (its reads are cached until a write touches the unit, ``data.unit_generation``). Save and Undo sit
under the fragment, outside it: their click runs the page once, which opens the next pair. What is typed on a
pair but not saved is kept as a draft per pair (restored when the pair is opened again). ``U`` undoes the
reviewer's last save of this session: a new annotation is retracted, an edit goes back to the revision before
it. A small badge shows the tags toggled on this pair wherever the page is scrolled."""
from __future__ import annotations

import html

import pandas as pd
import streamlit as st

from .. import annotations as ann
from ..errors import MedvizError
from ..readmodels.review import UnitView
from . import data, review_keys
from .text import html_text, md

ALL_MODELS = "(all models)"
QUICK_KEYS = "123456789"


def existing(ctx, unit_id: str) -> pd.DataFrame:
    """The current annotations on one unit (cached until the next write)."""
    return data.unit_annotations(ctx.db_path, ctx.benchmark_id, unit_id,
                                 data.unit_generation(ctx.benchmark_id, unit_id))


def visible(ctx, unit_id: str):
    """(shown, hidden count): the annotations on a unit the signed-in reviewer may see (blind reading decided by
    the domain), cached until a write touches that unit (``data.unit_generation``), so the prefetch can read
    the next pair's ahead of a save on this one."""
    return data.visible_annotations(ctx.db_path, ctx.benchmark_id, unit_id, ctx.reviewer, _who_key(ctx.reviewer),
                                    data.unit_generation(ctx.benchmark_id, unit_id))


def _who_key(who) -> tuple:
    return (getattr(who, "name", who), getattr(who, "role", None), getattr(who, "source", None))


def quick_tags(tax) -> list[str]:
    """The tags bound to keys 1..9: the taxonomy's leaves in file order."""
    return tax.leaves()[: len(QUICK_KEYS)]


_FIELDS = ("tags", "why", "conf", "scope", "prop")


def _keep_draft(k: str) -> None:
    """Copy the form's widget values to a plain session key (widget state is dropped when the pair closes)."""
    ss = st.session_state
    ss[f"draft::{k}"] = {f: ss[f"{f}::{k}"] for f in _FIELDS if f"{f}::{k}" in ss}


def forget(benchmark_id: str, unit: str) -> None:
    """Drop the form's widget state of a unit being left (its draft, if any, stays). A full app rerun drops
    it by itself; a fragment rerun that opens another unit does not, and a form drawn again later would then
    show empty widgets while the server holds their old values."""
    for f in _FIELDS:
        st.session_state.pop(f"{f}::{benchmark_id}::{unit}", None)


def _restore_draft(k: str) -> bool:
    ss = st.session_state
    d = ss.get(f"draft::{k}")
    if not d or f"tags::{k}" in ss:
        return False
    for f, v in d.items():
        ss[f"{f}::{k}"] = v
    return True


def render(ctx, uv: UnitView, on_saved=None, on_undo=None) -> None:
    """The form (a fragment: a tag toggle reruns only it), then Save / Undo outside the fragment: a save or an
    undo opens the next pair, a whole-page run that their click starts directly (a button inside the
    fragment would first rerun the fragment, then ask for a second, whole-page run)."""
    _form(ctx, uv)
    _actions(ctx, uv, on_saved, on_undo)


@st.fragment
def _form(ctx, uv: UnitView) -> None:
    from . import timing
    fragment_run = timing.enabled() and not timing.running()
    if fragment_run:
        timing.begin("fragment")
    try:
        _render(ctx, uv)
    finally:
        if fragment_run:
            timing.end()


def _render(ctx, uv: UnitView) -> None:
    from .timing import step
    with step("t.taxonomy"):
        tax = data.taxonomy(ctx.db_path)
    unit = uv.unit_id
    target_type = "pair" if uv.is_pair else "item"
    who = ctx.reviewer
    with step("t.plan"):
        plan = data.reading_plan(ctx.db_path, ctx.benchmark_id, data.plan_generation())
    if who is not None:      # blind reading: the domain decides what this reviewer may see (mine included)
        with step("t.visible"):
            shown, hidden = visible(ctx, unit)
    else:
        with step("t.existing"):
            prev = existing(ctx, unit)
        shown, hidden = (prev.iloc[0:0], len(prev)) if plan.is_blind else (prev, 0)
    if not shown.empty:
        with st.expander(f"{len(shown)} annotation(s) on this {target_type}", expanded=False):
            st.html("<ul>" + "".join(
                f"<li><b>{html.escape(r.reviewer)}</b> ({html.escape(r.model if isinstance(r.model, str) else 'all models')}"
                f"{', adjudication' if r.kind == 'adjudication' else ''}): {html.escape(', '.join(r.tags))} · "
                f"confidence {int(r.confidence)}" + (f" — <i>{html.escape(r.rationale)}</i>" if r.rationale else "")
                + "</li>" for r in shown.itertuples()) + "</ul>")
    if hidden:
        st.caption(f"Blind reading ({plan.readers} readers per pair): {hidden} other reading(s) of this "
                   f"{target_type} stay hidden until you save yours.")
    if who is None:
        st.info("Enter your name in the sidebar (or sign in) to tag this pair.")
        return
    name = getattr(who, "name", who)
    k = f"{ctx.benchmark_id}::{unit}"
    tags_key, scope_key = f"tags::{k}", f"scope::{k}"
    mine = _mine(shown, name)        # my own readings are never hidden from me
    restored = _restore_draft(k)
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
        _keep_draft(k)

    st.html("<p style='margin:0 0 0.25rem 0'><b>Tag this failure</b> · keys 1–9 toggle the quick tags, "
            "Ctrl+Enter saves</p>")        # fixed text: HTML, no Markdown parsing in the browser on every run
    qcols = st.columns(2)
    for i, tag in enumerate(quick):
        on = tag in st.session_state[tags_key]
        qcols[i % 2].button(f"{'☑' if on else '☐'} {md(tax.label(tag), inline=True)}", key=f"q{i}::{k}",
                            on_click=toggle, args=(tag,), shortcut=QUICK_KEYS[i], width="stretch", wrap=True,
                            help=md(tax.description(tag) or tag))
    st.multiselect("Failure modes", tax.paths(), key=tags_key, placeholder="choose one or more tags",
                   help=f"Taxonomy {md(tax.version)}", on_change=_keep_draft, args=(k,))
    scopes = [ALL_MODELS] + list(ctx.models)
    if st.session_state.get(scope_key) not in scopes:
        st.session_state[scope_key] = ALL_MODELS
    row = st.container(horizontal=True, gap="medium")       # not columns: fewer elements to draw per run
    row.selectbox("Applies to", scopes, key=scope_key, on_change=_keep_draft, args=(k,), width="stretch")
    st.session_state.setdefault(f"conf::{k}", 3)
    row.select_slider("Confidence", options=[1, 2, 3, 4, 5], key=f"conf::{k}", on_change=_keep_draft, args=(k,),
                      width=170)
    st.text_area("Rationale", key=f"why::{k}", height=80, on_change=_keep_draft, args=(k,),
                 placeholder="What did the model miss? What would a radiologist look at? (R to type here)")
    if restored:
        st.caption("Your unsaved draft for this pair was kept.")
    disputed_path = tax.path_for_role("answer_key_disputed")
    if disputed_path and disputed_path in st.session_state[tags_key]:
        st.text_input("Your proposed answer (answer key disputed)", key=f"prop::{k}", on_change=_keep_draft,
                      args=(k,), placeholder="e.g. image 1: B, image 2: A")
    msg = st.session_state.pop(f"_save_err::{k}", None)
    if msg:
        st.error(md(msg))
    hint = ""        # drawn with the tag badge: one element
    if disputed_path and disputed_path not in st.session_state[tags_key]:
        hint = (f"<div class='mv-cap'>To dispute the answer key, add the tag "
                f"“{html_text(tax.label(disputed_path))}”.</div>")
    saved_tags = list(mine.iloc[-1]["tags"]) if not mine.empty else []
    now = list(st.session_state.get(tags_key, []))
    st.html(hint + review_keys.tag_status_html([tax.label(t) for t in now], dirty=sorted(now) != sorted(saved_tags)))


def _mine(prev: pd.DataFrame, name: str) -> pd.DataFrame:
    return prev[prev["reviewer"] == name] if not prev.empty else prev


def _actions(ctx, uv: UnitView, on_saved, on_undo) -> None:
    """Save (Ctrl+Enter) and Undo (U), drawn under the form."""
    who = ctx.reviewer
    if who is None:
        return
    name = getattr(who, "name", who)
    k = f"{ctx.benchmark_id}::{uv.unit_id}"
    row = st.container(horizontal=True, gap="small")
    row.button("Save tag", type="primary", key=f"save::{k}", shortcut="Ctrl+Enter", icon=":material/save:",
              on_click=_save, args=(ctx, uv, name, k, on_saved), width="stretch")
    last = st.session_state.get("_last_save")
    row.button("Undo last save", key="undo_save", shortcut="U", icon=":material/undo:", width="stretch",
              disabled=last is None or last.get("reviewer") != name, on_click=_undo, args=(ctx, name, on_undo),
              help="Retract the annotation you saved last (or restore the revision before your edit)"
                   + (f" — {md(last['unit'])}" if last else ""))


def _save(ctx, uv, name, k, on_saved) -> None:
    """Button callback (runs before the next script run, so the page re-renders already saved/moved on)."""
    from . import timing
    timing.begin("save_cb")
    try:
        _save_inner(ctx, uv, name, k, on_saved)
    finally:
        timing.end()


def _save_inner(ctx, uv, name, k, on_saved) -> None:
    ss = st.session_state
    tags = list(ss.get(f"tags::{k}", []))
    if not tags:
        ss[f"_save_err::{k}"] = "Choose at least one failure mode before saving (keys 1–9 or the list)."
        return
    scope = ss.get(f"scope::{k}", ALL_MODELS)
    model = None if scope == ALL_MODELS else scope
    shown, _hidden = visible(ctx, uv.unit_id)
    mine = _mine(shown, name)
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
    from .timing import step
    try:
        with step("s.write"):
            saved = ann.get_writer(ctx.store).save(a, ctx.reviewer)
    except MedvizError as e:
        ss[f"_save_err::{k}"] = str(e)
        return
    with step("s.after_write"):
        data.after_write(units=((ctx.benchmark_id, uv.unit_id),))
    ss["_last_save"] = {"unit": uv.unit_id, "reviewer": name, "annotation_id": saved.annotation_id,
                        "revision": saved.revision, "before": None if base is None else base.to_dict()}
    ss.pop(f"draft::{k}", None)
    ss["_saved_msg"] = f"Saved {uv.unit_id}: " + ", ".join(t.rsplit("/", 1)[-1] for t in tags)
    if on_saved:
        with step("s.next"):
            on_saved()


def _undo(ctx, name, on_undo) -> None:
    """Undo my last save: retract a new annotation, or save the revision before my edit again."""
    ss = st.session_state
    last = ss.get("_last_save")
    if not last or last.get("reviewer") != name:
        return
    w = ann.get_writer(ctx.store)
    try:
        if last["before"] is None:
            w.retract(last["annotation_id"], ctx.reviewer)
        else:
            prev = ann.Annotation.from_row(last["before"])
            w.save(prev.edit(revision=last["revision"], created_at=None, updated_at=None), ctx.reviewer)
    except MedvizError as e:
        ss["_nav_msg"] = f"Could not undo: {e}"
        return
    data.after_write(units=((ctx.benchmark_id, last["unit"]),))
    ss.pop("_last_save", None)
    for f in _FIELDS:
        ss.pop(f"{f}::{ctx.benchmark_id}::{last['unit']}", None)
    ss["_saved_msg"] = f"Undid your last save on {last['unit']}"
    if on_undo:
        on_undo(last["unit"])
