"""The Review page's body: navigation bar, images, answers, encoder panel and tagging form (a fragment of its
own: a quick-tag toggle reruns only the form; Save / Undo sit outside it, so a save is one page run). What makes
the next pair fast is cached per unit and prefetched by one background worker (``Navigator.prefetch``, started
after the run is sent): where a save goes next, its view (confused models included), the form's visible
annotations, its image figure (``pair_viewer.figure_for``), its encoder explanation. The form's reads are cached
per unit (``data.unit_generation``: moved by a write on that unit, or by any write the app cannot place), so a
save on this pair leaves the next pair's prefetched reads valid; the save callback takes the next untagged error
the prefetch found. The patch map runs only while its expander is open; the Options and Adjust popovers build
their widgets only while open; rows are horizontal containers (a column is one more element per run); the key
script is sent once per session. Streamlit's full ``gc.collect(2)`` after every run is off
(``runner.postScriptGC``): it held the GIL for 80-150 ms before each run's last deltas reached the browser.

``MEDVIZ_UI_TIMING=FILE`` logs the time of each step below per run (``medviz.ui.timing``).

Measured (bench/ui.py): running this body as one keyed ``st.fragment`` (J/K/save rerunning only it) was slower
in Chromium than a full app rerun, toggle included (0.28–0.35 s vs 0.19 s), so the page reruns as a whole; the
sidebar is 6 of the page's ~80 elements, so a body fragment would save little."""
from __future__ import annotations

import streamlit as st

from . import data, encoder_panel, pair_viewer, reading_panel, review_keys, review_nav, slot_details, tagging
from .context import current
from .timing import step
from .text import md


def render() -> None:
    ctx = current()
    review_nav.Navigator.keep_options()
    pair_viewer.keep_controls()
    with step("nav.current_unit"):
        nav = review_nav.Navigator(ctx)
        unit = nav.current_unit()
    if unit is None:
        st.title("Review")
        st.info("This benchmark has no items to review.")
        return
    with step("unit_view"):
        uv = data.unit_view(ctx.db_path, ctx.benchmark_id, unit, ctx.models)
    with step("keys"):
        review_keys.install()                # R and ? (once per session)
    with step("bar"):
        nav.render_bar(uv)
    st.markdown(f"### {md(uv.slots[0].question, inline=True)}")
    with step("controls"):
        views, fit = pair_viewer.render_controls(uv) if any(s.image_ok for s in uv.slots) else (None, pair_viewer.FIT)
    with step("images"):
        pair_viewer.render_images(ctx.store, uv, views, fit, key=f"fig::{unit}")
    with step("details"):
        slot_details.render(uv)        # one element: image details, options, answers, the divider, the page CSS
    left, right = st.columns([1, 1], gap="large")
    with left:
        with step("encoder"):
            encoder_panel.render(ctx, uv)
    with right:
        with step("adjudication"):
            reading_panel.render_adjudication(ctx, uv)
        with step("tagging"):
            tagging.render(ctx, uv, on_saved=nav.after_save, on_undo=nav.go)
    with step("prefetch"):
        nav.prefetch(unit)
