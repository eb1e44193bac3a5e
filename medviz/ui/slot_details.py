"""What the Review page shows under each image: the question's options with the correct one, every selected
model's raw answer and parsed letter (wrong ones in red), and the image details (size; DICOM metadata).

All of it is ONE ``st.html`` element (``details_html``): a Streamlit element costs a delta on the wire and a
React subtree in the browser on every run, and this block used to be ~20 of them (an expander, columns, a
caption, markdown and HTML per image). Every value from a file or a model is escaped with
``text.html_text``. Styled by the pair viewer's stylesheet (``pair_viewer.CSS``) plus ``REVIEW_CSS`` below, which
draws the captions, the collapsible image details and the alerts as Streamlit draws its own."""
from __future__ import annotations

import streamlit as st

from ..readmodels.review import Answer, Slot, UnitView
from .pair_viewer import CSS, slot_meta
from .text import html_text

META_LABEL = "Image details (size; DICOM: modality, body part, series, spacing, window)"

# The Review page's stylesheet for its HTML blocks (here and ``encoder_panel``): Streamlit's look (caption: small
# grey text; expander: bordered box with a chevron; metric; alerts), so the HTML reads like the separate elements
# it replaces. Also the page's top padding (was an element of its own). Sent with the slot details, which every
# Review run draws before the encoder panel.
REVIEW_CSS = """<style>
.stMainBlockContainer{padding-top:2.6rem}
.mv-cols {display: flex; gap: 1rem; width: 100%;}
.mv-cols > div {flex: 1 1 0; min-width: 0;}
.mv-cap {font-size: 0.875rem; color: rgba(49, 51, 63, 0.6); margin: 0 0 0.5rem 0; overflow-wrap: anywhere;}
.mv-key {margin: 0.5rem 0 0.5rem 0;}
details.mv-exp {border: 1px solid rgba(49, 51, 63, 0.2); border-radius: 0.5rem; margin-bottom: 1rem;}
details.mv-exp > summary {cursor: pointer; padding: 0.5rem 1rem; list-style: none; font-size: 0.875rem;}
details.mv-exp > summary::-webkit-details-marker {display: none;}
details.mv-exp > summary::before {content: "›"; display: inline-block; width: 1rem; margin-right: 0.5rem;
  text-align: center; font-size: 1.1rem; line-height: 1; transition: transform 0.1s;}
details.mv-exp[open] > summary::before {transform: rotate(90deg);}
details.mv-exp > .mv-cols {padding: 0 1rem 0.75rem 1rem;}
.mv-hr {border: none; border-top: 1px solid rgba(49, 51, 63, 0.2); margin: 1.5rem 0;}
.mv-metrics {display: flex; gap: 1rem; margin: 0 0 0.75rem 0;}
.mv-metrics > div {flex: 1 1 0; min-width: 0;}
.mv-metric-l {font-size: 0.875rem; color: rgb(49, 51, 63); overflow-wrap: anywhere;}
.mv-metric-l abbr {text-decoration: none; cursor: help; color: rgba(49, 51, 63, 0.6); margin-left: 0.35rem;
  display: inline-flex; align-items: center; justify-content: center; width: 0.9rem; height: 0.9rem;
  border: 1.5px solid rgba(49, 51, 63, 0.6); border-radius: 50%; font-size: 0.65rem; font-weight: 600;}
.mv-metric-v {font-size: 2.25rem; line-height: 1.3; color: rgb(49, 51, 63);}
.mv-alert {border-radius: 0.5rem; padding: 1rem; margin: 0 0 1rem 0; overflow-wrap: anywhere;}
.mv-alert-warning {background: rgba(255, 227, 18, 0.1); color: rgb(146, 108, 5);}
.mv-alert-success {background: rgba(33, 195, 84, 0.1); color: rgb(23, 114, 51);}
.mv-alert-error {background: rgba(255, 43, 43, 0.09); color: rgb(125, 53, 59);}
.mv-enc ul {margin: 0.25rem 0 0.75rem 0;}
.mv-enc code {font-size: 0.75em; color: rgb(9, 171, 59); background: rgba(172, 177, 195, 0.25);
  padding: 0.2em 0.4em; border-radius: 0.25rem;}
h4.mv-h4 {font-size: 1.5rem; font-weight: 600; line-height: 1.2; margin: 0; padding: 0.75rem 0 1rem 0;}
</style>"""


def _metadata_html(uv: UnitView) -> str:
    metas = [(s, slot_meta(s)) for s in uv.slots]
    if not any(m for _s, m in metas):
        return ""
    cols = []
    for s, m in metas:
        body = ("<div class='mv-cap'>no image</div>" if m is None else "<table class='mv-meta'>" + "".join(
            f"<tr><td>{html_text(k)}</td><td>{html_text(v)}</td></tr>" for k, v in m.rows()) + "</table>")
        cols.append(f"<div><p><b>Image {s.slot}</b></p>{body}</div>")
    return (f"<details class='mv-exp' data-testid='mv-image-details'><summary>{html_text(META_LABEL)}</summary>"
            f"<div class='mv-cols'>{''.join(cols)}</div></details>")


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


def _slot_html(s: Slot) -> str:
    parts = []
    meta = " · ".join(x for x in [s.modality, ", ".join(s.categories), s.department] if x)
    if meta:
        parts.append(f"<div class='mv-cap'>{html_text(meta)}</div>")
    for letter, text in s.options.items():
        ok = letter == s.answer
        parts.append(f"<div class='mv-opt{' mv-correct' if ok else ''}'>{'✔ ' if ok else ''}"
                     f"<b>{html_text(letter)}</b>. {html_text(text)}</div>")
    if s.answer:
        parts.append(f"<p class='mv-key'><b>Correct: {html_text(s.answer)}</b> — "
                     f"{html_text(s.options.get(s.answer, ''))}</p>")
    else:
        parts.append("<p class='mv-key'><b>Correct answer withheld</b> (test split)</p>")
    if s.answers:
        parts.append("".join(_answer_line(a, s.answer) for a in s.answers))
    else:
        parts.append("<div class='mv-cap'>No predictions from the selected models.</div>")
    return f"<div data-testid='mv-slot'>{''.join(parts)}</div>"


def details_html(uv: UnitView) -> str:
    """The image details (collapsed), each slot's options / correct answer / models' answers side by side, and
    the divider under them: one HTML string, every value escaped."""
    return (CSS + REVIEW_CSS + _metadata_html(uv) + "<div class='mv-cols'>" + "".join(_slot_html(s) for s in uv.slots)
            + "</div><hr class='mv-hr'>")


def render(uv: UnitView) -> None:
    st.html(details_html(uv))
