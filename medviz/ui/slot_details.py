"""What the Review page shows under each image: the question's options with the correct one, every selected
model's raw answer and parsed letter (wrong ones in red), and the image details (size; DICOM metadata).
Styled by the pair viewer's stylesheet (``pair_viewer.CSS``)."""
from __future__ import annotations

import html

import streamlit as st

from ..readmodels.review import Answer, UnitView
from .pair_viewer import CSS, slot_meta
from .text import html_text, md


def render_metadata(uv: UnitView) -> None:
    metas = [(s, slot_meta(s)) for s in uv.slots]
    if not any(m for _s, m in metas):
        return
    with st.expander("Image details (size; DICOM: modality, body part, series, spacing, window)", expanded=False):
        cols = st.columns(len(metas))
        for col, (s, m) in zip(cols, metas):
            with col:
                st.markdown(f"**Image {s.slot}**")
                if m is None:
                    st.caption("no image")
                    continue
                st.html("<table class='mv-meta'>" + "".join(
                    f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in m.rows()) + "</table>")


def _answer_line(a: Answer, answer: str | None) -> str:
    mark = "–" if a.correct is None else ("✓" if a.correct else "✗")
    letter = a.parsed or "no letter (invalid)"
    syn = " <span class='mv-syn'>synthetic</span>" if a.synthetic else ""
    raw = html_text((a.raw or "").strip().replace("\n", " "))
    if len(raw) > 220:
        raw = raw[:220] + "…"
    cls = "mv-wrong" if a.correct is False or a.parsed is None else "mv-right"
    return (f"<div class='mv-ans {cls}'><span class='mv-mark'>{mark}</span> <b>{html_text(a.model)}</b>{syn} → <b>{html_text(letter)}</b>"
            f"<br><span class='mv-raw'>“{raw}”</span></div>")


def render_slot_details(uv: UnitView) -> None:
    st.html(CSS)
    cols = st.columns(len(uv.slots))
    for col, s in zip(cols, uv.slots):
        with col:
            meta = " · ".join(x for x in [s.modality, ", ".join(s.categories), s.department] if x)
            if meta:
                st.caption(md(meta))
            opts = []
            for letter, text in s.options.items():
                ok = letter == s.answer
                opts.append(f"<div class='mv-opt{' mv-correct' if ok else ''}'>{'✔ ' if ok else ''}"
                            f"<b>{html_text(letter)}</b>. {html_text(text)}</div>")
            st.html("".join(opts))
            if s.answer:
                st.markdown(f"**Correct: {md(s.answer, inline=True)}** — {md(s.options.get(s.answer, ''), inline=True)}")
            else:
                st.markdown("**Correct answer withheld** (test split)")
            if s.answers:
                st.html("".join(_answer_line(a, s.answer) for a in s.answers))
            else:
                st.caption("No predictions from the selected models.")
