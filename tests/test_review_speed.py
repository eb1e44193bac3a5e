"""What makes save -> next pair and J/K cheap on the Review page: the pair figure is built once per pair, image
files and viewer settings (``pair_viewer.figure_for``) and the prefetch builds it ahead (``warm_unit``); the
patch map runs only while open; the process warm-up; leaving a pair drops its form state (``tagging.forget``). Images are generated (synthetic)."""
from __future__ import annotations

import os
import pathlib

import numpy as np
from PIL import Image

from medviz.display import View
from medviz.readmodels.review import Slot, UnitView
from medviz.ui import pair_viewer, tagging


def _unit(tmp_path, uid="u1", size=(40, 30)) -> UnitView:
    slots = []
    for i in (1, 2):
        p = tmp_path / f"{uid}_{i}.png"
        Image.fromarray(np.full(size[::-1], 40 * i, np.uint8)).save(p)
        slots.append(Slot(item_id=f"{uid}-{i}", slot=i, question="q?", options={"A": "a", "B": "b"}, answer="A",
                          image_path=str(p), image_ref=p.name, image_ok=True, is_dicom=False, modality=None,
                          categories=[], department=None, answers=[]))
    return UnitView(benchmark_id="b", unit_id=uid, is_pair=True, slots=slots)


def test_figure_built_once_per_pair_views_and_files(tmp_path):
    uv = _unit(tmp_path)
    views = [View(), View()]
    fig, problems = pair_viewer.figure_for(uv, views)
    assert problems == [] and len(fig.data) == 2
    assert pair_viewer.figure_for(uv, views)[0] is fig                          # cached
    inverted = pair_viewer.figure_for(uv, [View(invert=True), View()])[0]
    assert inverted is not fig and inverted.data[0].source != fig.data[0].source  # other settings, other pixels
    assert pair_viewer.figure_for(uv, views, pair_viewer.ONE_TO_ONE)[0] is not fig
    # the file changes on disk: a new figure with the new pixels
    p = pathlib.Path(uv.slots[0].image_path)
    Image.fromarray(np.full((30, 40), 200, np.uint8)).save(p)
    st_ = os.stat(p)
    os.utime(p, ns=(st_.st_atime_ns, st_.st_mtime_ns + 10_000_000))
    again = pair_viewer.figure_for(uv, views)[0]
    assert again is not fig and again.data[0].source != fig.data[0].source


def test_prefetch_builds_the_figure_the_page_will_draw(tmp_path):
    uv = _unit(tmp_path, "u2")
    state = {"vw_invert": True, "vw_fit": pair_viewer.ONE_TO_ONE}
    pair_viewer.warm_unit(uv, state)
    key_views = pair_viewer.views_for(state, [None, None])
    n = len(pair_viewer._FIGURES)
    pair_viewer.figure_for(uv, key_views, pair_viewer.ONE_TO_ONE)
    assert len(pair_viewer._FIGURES) == n          # a hit: nothing new was built


def test_figure_cache_is_bounded(tmp_path):
    uv = _unit(tmp_path, "u3")
    for b in range(pair_viewer._FIGURES.maxsize + 5):
        pair_viewer.figure_for(uv, [View(brightness=float(b)), View()])
    assert len(pair_viewer._FIGURES) <= pair_viewer._FIGURES.maxsize


def test_leaving_a_pair_drops_its_form_state_but_keeps_the_draft(monkeypatch):
    import streamlit as st
    ss = {f"{f}::b::u1": "x" for f in tagging._FIELDS} | {"draft::b::u1": {"why": "x"}, "tags::b::u2": ["t"]}
    monkeypatch.setattr(st, "session_state", ss)
    tagging.forget("b", "u1")
    assert ss == {"draft::b::u1": {"why": "x"}, "tags::b::u2": ["t"]}


def test_warm_up_builds_the_first_units_figure_and_runs_once_per_database(tmp_path, monkeypatch):
    from viewer_data import build_viewer_db          # tests/viewer_data.py: DICOM + PNG pairs (synthetic PNGs)
    from medviz.store import core
    from medviz.ui import data, warmup
    db = build_viewer_db(tmp_path)
    monkeypatch.setenv("MEDVIZ_DB", db)
    monkeypatch.setattr(warmup, "_STARTED", {db})      # opening the store must not start a second warm-up
    warmed = []
    monkeypatch.setattr(pair_viewer, "warm_unit", lambda uv, state: warmed.append(uv.unit_id))
    warmup.run(db)
    ids = data.unit_ids(db, "viewer")
    assert warmed == [ids[0]]
    assert data.leaderboard(db, "viewer", tuple(core.models(data.store(db).cursor(), "viewer")["model"])) is not None
    monkeypatch.setattr(warmup, "_STARTED", set())
    monkeypatch.setattr(warmup, "run", lambda path: None)
    assert warmup.start(db) is not None and warmup.start(db) is None


def test_patch_map_is_computed_only_while_its_expander_is_open(tmp_path, monkeypatch):
    """The map sat in a collapsed expander whose body Streamlit ran on every pair; now it runs only when open."""
    from streamlit.testing.v1 import AppTest
    from viewer_data import build_viewer_db
    from medviz.cli import main
    from medviz.ui import encoder_panel
    from medviz.ui.navigation import REVIEW, SPECS
    db = build_viewer_db(tmp_path)
    assert main(["embed", "viewer", "--encoder", "pixels", "--db", db]) == 0
    monkeypatch.setenv("MEDVIZ_DB", db)
    at = AppTest.from_file(str(pathlib.Path(__file__).resolve().parents[1] / "app.py"), default_timeout=60)
    at.query_params["pair"] = "sizes"
    at.run()
    at.switch_page(SPECS[REVIEW].path).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Patch agreement map" in [e.label for e in at.expander]
    assert len(at.get("plotly_chart")) == 1                   # the pair's images only
    at.session_state[encoder_panel.PATCH_OPEN] = True
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.get("plotly_chart")) == 2                   # the images and the patch map


def test_the_prefetcher_runs_the_newest_job_after_its_quiet_time_and_reports_idle():
    """Jobs submitted in a burst: only the newest runs, not before the quiet time; ``wait_idle`` returns once it
    is done (what keeps a job of one test from running inside the next)."""
    import threading
    import time
    from medviz.ui.review_nav import _Prefetcher
    p = _Prefetcher()
    ran, started = [], []
    gate = threading.Event()

    def job(n):
        def run():
            started.append(time.monotonic())
            gate.wait(5)
            ran.append(n)
        return run
    t0 = time.monotonic()
    for n in range(3):
        p.submit(job(n))
    assert not p.wait_idle(0.3)          # still running: the job waits for the gate
    gate.set()
    assert p.wait_idle(5)
    assert ran == [2] and started[0] - t0 >= _Prefetcher.QUIET_S * 0.9
    p.submit(lambda: (_ for _ in ()).throw(RuntimeError("a failing warm-up")))
    assert p.wait_idle(5)
    p.submit(job(7))
    assert p.wait_idle(5) and ran == [2, 7]       # the worker survived the failure
