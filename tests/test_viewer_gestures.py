"""The Python side of the viewer's gestures (medviz/ui/viewer_gestures.py): what the browser sends is checked
(pair, slot, finite numbers, bounds, frame range); a window drag maps to the controls' state (linked: same
window on the same modality, the relative change on another; unlinked: only the dragged image); the window an
image is shown with (display.shown_window); a reader's window on colour images; and, through AppTest, a
gesture received by the page changes exactly the pixels it should (checked against medviz.display).
Data: pydicom's test files and generated PNGs (synthetic), tests/viewer_data.py."""
from __future__ import annotations

import base64
import io
import json
import pathlib

import numpy as np
import pytest
from PIL import Image

from medviz import display
from medviz.display import View
from medviz.ui import pair_viewer
from medviz.ui.viewer_gestures import (MAX_LEVEL, PENDING, FrameStep, WindowDrag, parse, slot_info,
                                       window_updates)
from viewer_data import build_viewer_db  # noqa: E402  (tests/viewer_data.py)

FRAMES = {1: 1, 2: 15}


def wl(**kw):
    return {"kind": "wl", "unit": "p1", "slot": 1, "ww": 400, "wl": 40, **kw}


# --- parse: nothing from the browser is trusted ------------------------------------------------------------

def test_parse_a_window_drag_and_a_frame_step():
    assert parse(wl(), "p1", FRAMES) == WindowDrag(1, 400.0, 40.0)
    assert parse({"kind": "frame", "unit": "p1", "slot": 2, "frame": 7}, "p1", FRAMES) == FrameStep(2, 7)


@pytest.mark.parametrize("payload", [
    None, "wl", [1], {}, wl(unit="p2"), wl(unit=None), wl(slot=3), wl(slot=0), wl(slot="1"), wl(slot=True),
    wl(slot=1.0), wl(ww=float("nan")), wl(ww=float("inf")), wl(wl=float("-inf")), wl(ww="400"), wl(ww=None),
    wl(ww=True), wl(kind="zoom"),
    {"kind": "frame", "unit": "p1", "slot": 1, "frame": 1},            # slot 1 has one frame
    {"kind": "frame", "unit": "p1", "slot": 2, "frame": 2.5},
    {"kind": "frame", "unit": "p1", "slot": 2, "frame": "3"},
])
def test_parse_refuses_what_is_not_a_gesture_on_this_pair(payload):
    assert parse(payload, "p1", FRAMES) is None


def test_parse_bounds_the_window_and_the_frame():
    assert parse(wl(ww=0), "p1", FRAMES).width == 1.0
    assert parse(wl(ww=-50), "p1", FRAMES).width == 1.0
    assert parse(wl(ww=1e30, wl=-1e30), "p1", FRAMES) == WindowDrag(1, MAX_LEVEL, -MAX_LEVEL)
    assert parse(wl(ww=123.456789, wl=-0.004), "p1", FRAMES) == WindowDrag(1, 123.46, -0.0)
    f = {"kind": "frame", "unit": "p1", "slot": 2}
    assert parse({**f, "frame": 99}, "p1", FRAMES).frame == 15
    assert parse({**f, "frame": -4}, "p1", FRAMES).frame == 1


# --- window_updates: linked / unlinked / modality ----------------------------------------------------------

def test_unlinked_drag_changes_only_the_dragged_image():
    up = window_updates(WindowDrag(1, 80, 40), False, {1: "CT", 2: "CT"}, {1: (400, 40), 2: (400, 40)})
    assert up == {"vw_ww_1": 80, "vw_wl_1": 40}


def test_linked_drag_same_modality_gets_the_same_window():
    up = window_updates(WindowDrag(2, 150, 90), True, {1: "CT", 2: "ct"}, {1: (400, 40), 2: (2000, 300)})
    assert up == {"vw_ww_1": 150, "vw_wl_1": 90, "vw_ww_2": 150, "vw_wl_2": 90}
    up = window_updates(WindowDrag(1, 100, 200), True, {1: None, 2: None}, {1: (255, 127.5), 2: (255, 127.5)})
    assert up["vw_ww_2"] == 100 and up["vw_wl_2"] == 200                  # PNG/JPEG: gray values, same units


def test_linked_drag_on_ct_moves_the_mr_by_the_relative_change_never_the_hu_window():
    # CT from W400/L40 to W200/L140: half the width, level up by a quarter of the old width
    up = window_updates(WindowDrag(1, 200, 140), True, {1: "CT", 2: "MR"}, {1: (400, 40), 2: (1600, 600)})
    assert (up["vw_ww_1"], up["vw_wl_1"]) == (200, 140)
    assert (up["vw_ww_2"], up["vw_wl_2"]) == (800, 1000)
    # the result is bounded like the dragged window
    up = window_updates(WindowDrag(1, 1, 40), True, {1: "CT", 2: "MR"}, {1: (4000, 40), 2: (10, 0)})
    assert up["vw_ww_2"] == 1.0


def test_views_for_a_dragged_window_linked_and_unlinked():
    st = {"vw_link": True, "vw_preset": "Lung", "vw_ww_1": 80.0, "vw_wl_1": 40.0}
    v = pair_viewer.views_for(st, ["CT", "CT"])
    assert v[0].window == (80.0, 40.0) and v[1].window is None and v[1].preset == "Lung"
    v = pair_viewer.views_for({**st, "vw_link": False}, ["CT", "CT"])
    assert v[0].window == (80.0, 40.0) and v[1].window is None


# --- the window an image is shown with ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def viewer_db(tmp_path_factory):
    d = tmp_path_factory.mktemp("gestures")
    return build_viewer_db(d), d


def test_shown_window_per_preset_and_file(viewer_db):
    _, d = viewer_db
    ct = display.decode(str(d / "ct.dcm"))
    assert display.shown_window(ct, View(preset="Brain")) == (80.0, 40.0)
    assert display.shown_window(ct, View(window=(0.2, 7))) == (1.0, 7.0)
    lo, hi = display.value_range(ct)
    assert (lo, hi) == (float(ct.values.min()), float(ct.values.max()))
    assert display.shown_window(ct, View()) == (hi - lo, (hi + lo) / 2)      # CT_small stores no window
    mr = display.decode(str(d / "mr.dcm"))
    assert display.shown_window(mr, View()) == mr.meta.window == (1600.0, 600.0)
    assert display.shown_window(mr, View(preset="Brain")) == (mr.meta.window)  # a CT preset never on MR
    png = display.decode(str(d / "wide.png"))
    assert display.shown_window(png, View()) == (255.0, 127.5)
    auto = display.shown_window(png, View(preset=display.AUTO))
    p1, p99 = np.percentile(png.values, [1, 99])
    assert auto == pytest.approx((p99 - p1, (p1 + p99) / 2))
    info = slot_info(str(d / "multi.dcm"), View(frame=2))
    assert info["frames"] == 15 and info["mod"] == "RTDOSE" and info["voi"] is False
    assert slot_info(str(d / "nope.dcm"), View()) is None and slot_info(None, View()) is None


def test_a_window_on_a_colour_image_applies_per_channel(tmp_path):
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[..., 0] = np.arange(8)[None, :] * 30
    rgb[..., 2] = 200
    Image.fromarray(rgb).save(tmp_path / "c.png")
    d = display.decode(str(tmp_path / "c.png"))
    assert d.meta.is_color
    assert np.array_equal(display.to_uint8(d, View()), rgb)                # no window: unchanged
    out = display.to_uint8(d, View(window=(100, 150)))
    want = np.clip((rgb.astype(np.float32) - 100) / 100, 0, 1) * 255 + 0.5
    assert np.array_equal(out, want.astype(np.uint8))
    assert display.shown_window(d, View(window=(100, 150))) == (100.0, 150.0)


# --- through the page (AppTest): a gesture received changes the right pixels and controls ------------------

def _images(at) -> list[np.ndarray]:
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(t["source"].split(",", 1)[1]))).convert("L"), float)
            for t in spec["data"] if t.get("type") == "image"]


def _expected(path, view):
    return display.to_uint8(display.decode(str(path), view.frame), view).astype(float)


@pytest.fixture
def review(viewer_db, monkeypatch):
    pytest.importorskip("streamlit.testing.v1")
    from streamlit.testing.v1 import AppTest
    from medviz.ui.navigation import REVIEW, SPECS
    db, _ = viewer_db
    monkeypatch.setenv("MEDVIZ_DB", db)
    app = str(pathlib.Path(__file__).resolve().parents[1] / "app.py")

    def open_pair(pair):
        at = AppTest.from_file(app, default_timeout=60)
        at.query_params["pair"] = pair
        at.run()
        at.switch_page(SPECS[REVIEW].path).run()
        assert not at.exception, [e.value for e in at.exception]
        return at
    return open_pair


def test_page_applies_a_linked_drag_on_ct_and_ignores_a_stale_one(review, viewer_db):
    _, d = viewer_db
    at = review("ctmr")
    ct0, mr0 = _images(at)
    at.session_state[PENDING] = {"kind": "wl", "unit": "sizes", "slot": 1, "ww": 80, "wl": 40}   # another pair
    at.run()
    assert [np.array_equal(a, b) for a, b in zip(_images(at), (ct0, mr0))] == [True, True]
    mr_w = display.decode(str(d / "mr.dcm")).meta.window
    ct_w = display.shown_window(display.decode(str(d / "ct.dcm")), View())
    at.session_state[PENDING] = {"kind": "wl", "unit": "ctmr", "slot": 1, "ww": 80, "wl": 40}
    at.run()
    assert not at.exception
    ct, mr = _images(at)
    assert np.array_equal(ct, _expected(d / "ct.dcm", View(window=(80.0, 40.0))))
    ratio = 80 / ct_w[0]
    want_mr = (round(mr_w[0] * ratio, 2), round(mr_w[1] + (40 - ct_w[1]) / ct_w[0] * mr_w[0], 2))
    assert (at.session_state["vw_ww_2"], at.session_state["vw_wl_2"]) == want_mr
    assert np.array_equal(mr, _expected(d / "mr.dcm", View(window=want_mr)))
    # a preset chosen afterwards wins over the dragged windows
    at.selectbox(key="vw_preset").set_value("Bone").run()
    ct, mr = _images(at)
    assert np.array_equal(ct, _expected(d / "ct.dcm", View(preset="Bone")))
    assert np.array_equal(mr, mr0)


def test_page_unlinked_drag_sets_the_window_numbers_of_that_image_only(review, viewer_db):
    _, d = viewer_db
    at = review("ctmr")
    _, mr0 = _images(at)
    at.toggle(key="vw_link").set_value(False).run()
    at.session_state[PENDING] = {"kind": "wl", "unit": "ctmr", "slot": 1, "ww": 350.5, "wl": 50}
    at.run()
    assert at.number_input(key="vw_ww_1").value == 350.5 and at.number_input(key="vw_wl_1").value == 50
    assert at.number_input(key="vw_ww_2").value is None
    ct, mr = _images(at)
    assert np.array_equal(ct, _expected(d / "ct.dcm", View(window=(350.5, 50.0))))
    assert np.array_equal(mr, mr0)
    # the window belongs to this pair: the next pair opens on its own windows
    at.query_params["pair"] = "mono"
    at.run()
    assert at.number_input(key="vw_ww_1").value is None and at.number_input(key="vw_wl_1").value is None
    m1, _ = _images(at)
    assert np.array_equal(m1, _expected(d / "mono1.dcm", View()))


def test_page_frame_step_moves_the_slider_and_the_image(review, viewer_db):
    _, d = viewer_db
    at = review("multi")
    at.session_state[PENDING] = {"kind": "frame", "unit": "multi", "slot": 1, "frame": 40}
    at.run()
    assert at.slider(key="vw_frame_1").value == 15                      # clamped to the last frame
    assert np.array_equal(_images(at)[0], _expected(d / "multi.dcm", View(frame=14)))
