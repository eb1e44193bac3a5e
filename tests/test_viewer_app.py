"""The Review page's viewer through AppTest (no browser): presets follow each image's modality on a CT+MR
DICOM pair (pixel values of both images checked), fit of two differently sized images, MONOCHROME1, a
multi-frame file with its frame slider, and the caption placeholder for a pair without image files.

Data: pydicom's own test files (CT_small, MR_small, rtdose) copied into a generic benchmark, plus generated
PNGs (synthetic)."""
from __future__ import annotations

import base64
import io
import json
import pathlib

import numpy as np
import pytest
from PIL import Image
import pydicom

pytest.importorskip("streamlit.testing.v1")
from streamlit.testing.v1 import AppTest  # noqa: E402

from medviz import display  # noqa: E402
from medviz.display import View  # noqa: E402
from medviz.ui import pair_viewer  # noqa: E402
from medviz.ui.navigation import REVIEW, SPECS  # noqa: E402
from viewer_data import build_viewer_db  # noqa: E402  (tests/viewer_data.py)

APP = str(pathlib.Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(scope="module")
def viewer_db(tmp_path_factory):
    d = tmp_path_factory.mktemp("viewer")
    return build_viewer_db(d), d


@pytest.fixture
def review(viewer_db, monkeypatch):
    db, _ = viewer_db
    monkeypatch.setenv("MEDVIZ_DB", db)

    def open_pair(pair, **state):
        at = AppTest.from_file(APP, default_timeout=60)
        at.query_params["pair"] = pair
        for k, v in state.items():
            at.session_state[k] = v
        at.run()
        at.switch_page(SPECS[REVIEW].path).run()
        assert not at.exception, [e.value for e in at.exception]
        return at
    return open_pair


def figure(at) -> dict:
    charts = at.get("plotly_chart")
    assert charts, "no image figure on the page"
    return json.loads(charts[0].proto.spec)


def images(at) -> list[tuple[np.ndarray, dict]]:
    """The pixels (as sent to the browser) and the placement of every image trace."""
    out = []
    for tr in figure(at)["data"]:
        if tr.get("type") != "image":
            continue
        b64 = tr["source"].split(",", 1)[1]
        arr = np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))).convert("L"), dtype=float)
        out.append((arr, tr))
    return out


def expected(path, view):
    return display.to_uint8(display.decode(str(path), view.frame), view).astype(float)


def test_ct_preset_applies_to_ct_only_pixels_of_both_images(review, viewer_db):
    _, d = viewer_db
    at = review("ctmr")
    (ct0, _), (mr0, _) = images(at)
    assert np.array_equal(ct0, expected(d / "ct.dcm", View()))
    assert np.array_equal(mr0, expected(d / "mr.dcm", View()))
    sel = at.selectbox(key="vw_preset")
    assert "Brain" in sel.options and "Lung" in sel.options        # the CT image offers CT presets
    sel.set_value("Brain").run()
    (ct, _), (mr, _) = images(at)
    assert np.array_equal(ct, expected(d / "ct.dcm", View(preset="Brain")))
    assert not np.array_equal(ct, ct0)
    assert np.array_equal(mr, mr0)                      # the MR keeps its own window, not solid white
    assert mr.mean() < 250 and mr.std() > 10


def test_no_ct_presets_on_a_pair_without_ct(review):
    at = review("mono")
    assert not [p for p in at.selectbox(key="vw_preset").options if p in display.CT_PRESETS]


def test_fit_fills_each_panel_and_one_to_one_keeps_relative_size(review):
    at = review("sizes")
    (wide, tw), (tall, tt) = images(at)
    assert wide.shape == (40, 120) and tall.shape == (300, 100)
    box = pair_viewer.DISPLAY_SIZE
    assert abs(120 * tw["dx"] - box) < 1e-6 and abs(300 * tt["dy"] - box) < 1e-6     # both fill their panel
    at.session_state["vw_fit"] = pair_viewer.ONE_TO_ONE
    at.run()
    (_, tw), (_, tt) = images(at)
    assert tw["dx"] == tt["dx"]                                                      # same pixel scale
    assert abs(300 * tt["dy"] - box) < 1e-6 and 120 * tw["dx"] < box / 2


def test_monochrome1_shown_with_low_values_white(review, viewer_db):
    _, d = viewer_db
    at = review("mono")
    (m1, _), (m2, _) = images(at)
    assert np.array_equal(m1, 255 - m2)
    raw = pydicom.dcmread(d / "mono1.dcm").pixel_array
    assert m1[raw == raw.min()].min() == m1.max()


def test_multiframe_slider_changes_the_frame(review, viewer_db):
    _, d = viewer_db
    at = review("multi")
    s = at.slider(key="vw_frame_1")
    assert s.max == 15
    (f1, _), _ = images(at)
    s.set_value(8).run()
    (f8, _), _ = images(at)
    assert np.array_equal(f8, expected(d / "multi.dcm", View(frame=7)))
    assert not np.array_equal(f1, f8)


def test_unlinked_each_image_alone_and_reset(review, viewer_db):
    _, d = viewer_db
    at = review("ctmr")
    at.toggle(key="vw_link").set_value(False).run()
    at.session_state["vw_invert_2"] = True
    at.run()
    (ct, _), (mr, _) = images(at)
    assert np.array_equal(ct, expected(d / "ct.dcm", View()))
    assert np.array_equal(mr, expected(d / "mr.dcm", View(invert=True)))
    at.button(key="vw_reset").click().run()
    (_, _), (mr2, _) = images(at)
    assert np.array_equal(mr2, expected(d / "mr.dcm", View()))


def test_pair_without_images_shows_captions_and_how_to_supply_them(review):
    at = review("gone")
    assert not at.get("plotly_chart")
    html_ = "\n".join(h.proto.body for h in at.get("html"))
    assert "Axial CT shows a mass in the left lobe" in html_
    assert "normal lung &lt;b&gt;fields&lt;/b&gt;" in html_ and "<b>fields</b>" not in html_   # text, not HTML
    assert "gone-1" in html_ and "medviz ingest" in html_ and "--images" in html_


def test_views_for_linked_preset_skips_other_modalities():
    v = pair_viewer.views_for({"vw_link": True, "vw_preset": "Lung", "vw_invert": True}, ["CT", "MR"])
    assert v[0].preset == "Lung" and v[1].preset == display.FILE_WINDOW and v[0].invert and v[1].invert
    v = pair_viewer.views_for({"vw_link": False, "vw_preset_1": "Bone", "vw_ww_2": 500, "vw_wl_2": 100},
                              ["CT", None])
    assert v[0].preset == "Bone" and v[1].window == (500.0, 100.0)


def test_brightness_set_in_the_lazy_adjust_popover_outlives_its_closing(review, viewer_db):
    """The Adjust popover builds its sliders only while open; a brightness chosen there still applies (and is
    still the slider's value) after the popover closed and the page ran without the sliders."""
    _, d = viewer_db
    at = review("ctmr")
    assert "vw_bright" not in [s.key for s in at.slider]           # closed by default: no sliders sent
    at.session_state["viewer_adjust"] = True                  # open it
    at.run()
    at.slider(key="vw_bright").set_value(40).run()
    (ct, _), _ = images(at)
    assert np.array_equal(ct, expected(d / "ct.dcm", View(brightness=40.0)))
    at.session_state["viewer_adjust"] = False                 # closed: no slider in this run ...
    at.run()
    assert "vw_bright" not in [s.key for s in at.slider]
    at.run()                                                  # ... nor in the next
    (ct, _), _ = images(at)
    assert np.array_equal(ct, expected(d / "ct.dcm", View(brightness=40.0)))
    at.session_state["viewer_adjust"] = True
    at.run()
    assert at.slider(key="vw_bright").value == 40
