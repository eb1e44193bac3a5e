"""The pair viewer: both images large, side by side, in one plotly figure whose subplots share their axes, so
zooming or panning one image zooms/pans the other (scroll to zoom, drag to pan, double-click to reset).
Below each image: the question's options, the correct one, and every selected model's answer."""
from __future__ import annotations

import html

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from ..errors import MedvizError
from ..readmodels.review import Answer, UnitView
from ..thumbnails import cached_image_bytes, data_uri

DISPLAY_SIZE = 768          # the prefetch in review_nav warms this size too


def _image_uri(store, path: str | None, window: str | None) -> tuple[str | None, str | None]:
    """(data URI, None) or (None, reason) for a slot's image."""
    if not path:
        return None, "no image file recorded for this item"
    try:
        return data_uri(cached_image_bytes(store, path, size=DISPLAY_SIZE, window=window)), None
    except MedvizError as e:
        return None, e.detail if hasattr(e, "detail") else str(e)


def pair_figure(store, uv: UnitView, window: str | None = "auto") -> tuple[go.Figure, list[str]]:
    n = len(uv.slots)
    titles = [f"Image {s.slot}: {s.item_id}" if uv.is_pair else f"Item {s.item_id}" for s in uv.slots]
    fig = make_subplots(rows=1, cols=n, horizontal_spacing=0.015, subplot_titles=titles)
    problems = []
    for i, s in enumerate(uv.slots, start=1):
        uri, why = _image_uri(store, s.image_path, window)
        if uri:
            fig.add_trace(go.Image(source=uri, hoverinfo="skip"), row=1, col=i)
        else:
            where = s.image_path or s.image_ref or "(no path)"
            problems.append(f"Image {s.slot} ({s.item_id}) is missing: {where} — {why}")
            fig.add_trace(go.Scatter(x=[0.5], y=[0.5], mode="text", text=[f"image missing<br>{html.escape(where)}"],
                                     textfont=dict(size=14, color="#b00"), hoverinfo="skip"), row=1, col=i)
            fig.update_xaxes(range=[0, 1], row=1, col=i)
            fig.update_yaxes(range=[1, 0], row=1, col=i)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, ticks="", showline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, ticks="", showline=False)
    if not problems and n > 1:     # synchronised zoom / pan
        fig.update_xaxes(matches="x")
        fig.update_yaxes(matches="y")
    for i in range(1, n + 1):
        suffix = "" if i == 1 else str(i)
        fig.layout[f"yaxis{suffix}"].scaleanchor = f"x{suffix}"
    fig.update_layout(height=560, margin=dict(l=0, r=0, t=30, b=0), dragmode="pan", showlegend=False,
                      plot_bgcolor="#111" if not problems else "#fafafa")
    return fig, problems


def render_images(store, uv: UnitView, window: str | None = "auto", key: str = "pairfig") -> None:
    fig, problems = pair_figure(store, uv, window)
    st.plotly_chart(fig, key=key, config={"scrollZoom": True, "displaylogo": False,
                                          "modeBarButtonsToRemove": ["select2d", "lasso2d"]})
    for p in problems:
        st.warning(p)


def _answer_line(a: Answer, answer: str | None) -> str:
    mark = "–" if a.correct is None else ("✓" if a.correct else "✗")
    letter = a.parsed or "no letter (invalid)"
    syn = " <span class='mv-syn'>synthetic</span>" if a.synthetic else ""
    raw = html.escape((a.raw or "").strip().replace("\n", " "))
    if len(raw) > 220:
        raw = raw[:220] + "…"
    cls = "mv-wrong" if a.correct is False or a.parsed is None else "mv-right"
    return (f"<div class='mv-ans {cls}'><span class='mv-mark'>{mark}</span> <b>{html.escape(a.model)}</b>{syn} → <b>{html.escape(letter)}</b>"
            f"<br><span class='mv-raw'>“{raw}”</span></div>")


CSS = """<style>
.mv-ans {font-size: 0.9rem; padding: 4px 8px; margin: 3px 0; border-radius: 6px; border-left: 4px solid #ccc;}
.mv-wrong {border-left-color: #d62728; background: #fdecea;}
.mv-right {border-left-color: #2ca02c; background: #edf7ed;}
.mv-raw {color: #555; font-size: 0.82rem;}
.mv-syn {background: #ffe8a3; color: #5c4400; border-radius: 4px; padding: 0 4px; font-size: 0.75rem;}
.mv-opt {margin: 1px 0;}
.mv-mark {font-weight: 700;}
.mv-wrong .mv-mark {color: #d62728;}
.mv-right .mv-mark {color: #2ca02c;}
.mv-correct {font-weight: 600; color: #1b5e20;}
</style>"""


def render_slot_details(uv: UnitView) -> None:
    st.html(CSS)
    cols = st.columns(len(uv.slots))
    for col, s in zip(cols, uv.slots):
        with col:
            meta = " · ".join(x for x in [s.modality, ", ".join(s.categories), s.department] if x)
            if meta:
                st.caption(meta)
            opts = []
            for letter, text in s.options.items():
                ok = letter == s.answer
                opts.append(f"<div class='mv-opt{' mv-correct' if ok else ''}'>{'✔ ' if ok else ''}"
                            f"<b>{letter}</b>. {html.escape(str(text))}</div>")
            st.html("".join(opts))
            if s.answer:
                st.markdown(f"**Correct: {s.answer}** — {s.options.get(s.answer, '')}")
            else:
                st.markdown("**Correct answer withheld** (test split)")
            if s.answers:
                st.html("".join(_answer_line(a, s.answer) for a in s.answers))
            else:
                st.caption("No predictions from the selected models.")
