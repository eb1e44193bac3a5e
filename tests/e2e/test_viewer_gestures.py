"""The viewer's gestures in Chromium (viewer_gestures.py): right-drag window/level on a CT image of a CT+MR pair
(linked: the MR follows by the same relative change, never the CT window; unlinked: only the dragged image, and
the controls' window numbers show the dragged window), on two PNGs (same window for both), Shift+wheel and ↓
over a multi-frame DICOM advancing its frame, Tab from a quick-tag button to the rationale. The drawn pixels
are decoded from the page and compared with ``medviz.display`` under the window Python applied.
Screenshots: test-artifacts/gesture-*.png."""
from __future__ import annotations

import io

import numpy as np
import pytest

from .harness import chromium_available, wait_ready
from .test_review_flow import (drawn_images, goto, new_page, no_traceback, pw,  # noqa: F401 (pw, viewer_url:
                               shot, viewer_url)                                # fixtures, shared)

pytestmark = pytest.mark.skipif(not chromium_available(),
                                reason="/usr/bin/chromium is absent (make browser installs it)")
pytest.importorskip("playwright.sync_api")


@pytest.fixture
def page(pw):
    ctx, p = new_page(pw)
    yield p
    ctx.close()


def slot_data(page) -> dict:
    """What Python last sent the browser per image: the window each is drawn with, its frame."""
    page.wait_for_function("() => window.__mvG && Object.keys(window.__mvG.data.images).length > 0 && "
                           "document.querySelectorAll(\"[data-testid='mv-wl-label']\").length > 0", timeout=20_000)
    return page.evaluate("JSON.parse(JSON.stringify(window.__mvG.data.images))")


def labels(page) -> list[str]:
    return page.eval_on_selector_all("[data-testid='mv-wl-label']",
                                     "els => els.sort((a, b) => a.offsetLeft - b.offsetLeft).map(e => e.textContent)")


def panel(page, axis: str = "xy") -> dict:
    """The drag surface of one image panel of the viewer's figure (the graph whose traces are slot1, slot2)."""
    return page.evaluate("""a => { const gd = [...document.querySelectorAll('.js-plotly-plot')].filter(g =>
        (g.data || []).some(t => t.name === 'slot1')).pop(); const r = gd.querySelector('.draglayer .' + a +
        ' .nsewdrag').getBoundingClientRect(); return {x: r.x, y: r.y, width: r.width, height: r.height}; }""", axis)


def rerun_done(page, before: dict, slot: str, field: str) -> dict:
    """Wait for the rerun a gesture causes: the slot's data changed, the figure settled."""
    page.wait_for_function("([s, f, v]) => window.__mvG && window.__mvG.data.images[s] && "
                           "window.__mvG.data.images[s][f] !== v", arg=[slot, field, before[slot][field]],
                           timeout=20_000)
    wait_ready(page)
    page.wait_for_timeout(500)
    return slot_data(page)


def axis_ranges(page) -> list:
    """The x ranges of both subplots and y of the first (zoom/pan state), from plotly's own layout."""
    return page.evaluate("""() => { const gd = [...document.querySelectorAll('.js-plotly-plot')].find(g =>
        (g.data || []).some(t => t.name === 'slot1')); const L = gd._fullLayout;
        return [L.xaxis.range.map(v => +v.toFixed(3)), L.yaxis.range.map(v => +v.toFixed(3)),
                L.xaxis2.range.map(v => +v.toFixed(3))]; }""")


def fmt(v: float) -> str:
    """The overlay's number format: whole numbers from 100 up, else one decimal."""
    return str(round(v)) if abs(v) >= 100 else f"{round(v, 1):g}"


def right_drag(page, axis: str, dx: float, dy: float, steps: int = 8, during=None) -> None:
    """Right-drag from the panel's centre; ``during(page)`` runs before the button is released."""
    r = panel(page, axis)
    x, y = r["x"] + r["width"] / 2, r["y"] + r["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down(button="right")
    for k in range(1, steps + 1):
        page.mouse.move(x + dx * k / steps, y + dy * k / steps)
    if during:
        during(page)
    page.mouse.up(button="right")


def panel_pixels(page, axis: str = "xy") -> np.ndarray:
    """A screenshot of the upper two thirds of a panel (the W/L label sits at its bottom), gray."""
    from PIL import Image
    r = panel(page, axis)
    png = page.screenshot(clip={"x": r["x"] + 2, "y": r["y"] + 2, "width": r["width"] - 4,
                                "height": r["height"] * 2 / 3})
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)


def test_right_drag_window_level_linked_unlinked_and_on_png(page, viewer_url):
    from medviz import display
    from medviz.display import View
    url, d = viewer_url

    def expect(name, view=View()):
        return display.to_uint8(display.decode(str(d / name), view.frame), view).astype(float)

    goto(page, f"{url}/review?b=viewer&pair=ctmr")
    ct0, mr0 = drawn_images(page)
    before = slot_data(page)
    assert labels(page)[0].startswith("W ") and " · L " in labels(page)[0]
    # linked: drag left (narrower window) and up (lower level) on the CT
    ranges = axis_ranges(page)
    live = {}

    def while_dragging(p):                                  # live feedback before the release
        p.wait_for_timeout(150)
        live["labels"], live["filter"] = labels(p), p.evaluate(
            "[...document.querySelectorAll('.js-plotly-plot .imagelayer image')].map(i => i.style.filter)")
        live["ct"] = panel_pixels(p)
        shot(p, "gesture-wl-while-dragging")
    right_drag(page, "xy", -120, -60, during=while_dragging)
    after = rerun_done(page, before, "1", "ww")
    no_traceback(page)
    assert axis_ranges(page) == ranges                      # a right-drag neither pans nor zooms
    assert after["1"]["ww"] < before["1"]["ww"] - 100 and after["1"]["wl"] < before["1"]["wl"] - 50
    ct, mr = drawn_images(page)
    assert np.array_equal(ct, expect("ct.dcm", View(window=(after["1"]["ww"], after["1"]["wl"]))))
    assert not np.array_equal(ct, ct0)
    # the MR follows by the same relative change of its own window (HU never land on an MR)
    ratio = after["1"]["ww"] / before["1"]["ww"]
    assert after["2"]["ww"] == pytest.approx(before["2"]["ww"] * ratio, rel=1e-3)
    assert after["2"]["ww"] != after["1"]["ww"]
    assert np.array_equal(mr, expect("mr.dcm", View(window=(after["2"]["ww"], after["2"]["wl"]))))
    assert labels(page) == [f"W {fmt(after[s]['ww'])} · L {fmt(after[s]['wl'])}" for s in ("1", "2")]
    assert live["labels"] == labels(page) and all("#mv-wl-f" in f for f in live["filter"])
    page.wait_for_timeout(800)                              # the preview filter is gone with the exact image
    assert page.evaluate("[...document.querySelectorAll('.js-plotly-plot .imagelayer image')]"
                         ".map(i => i.style.filter).join('')") == ""
    exact = panel_pixels(page)
    # a narrower window: the preview (a linear map of the drawn 8-bit values) is the exact image up to rounding
    assert live["ct"].shape == exact.shape and np.abs(live["ct"] - exact).mean() < 2.0
    shot(page, "gesture-wl-linked-ctmr")
    r = panel(page, "xy")                                   # plotly's own left-drag pan still works
    page.mouse.move(r["x"] + 200, r["y"] + 200)
    page.mouse.down()
    page.mouse.move(r["x"] + 260, r["y"] + 230, steps=5)
    page.mouse.up()
    page.wait_for_timeout(300)
    panned = axis_ranges(page)
    assert panned != ranges and panned[0] == panned[2]      # both images moved together (shared axes)
    page.mouse.dblclick(r["x"] + 200, r["y"] + 200)         # double-click resets
    page.wait_for_timeout(500)
    assert axis_ranges(page) == ranges

    # unlinked: reset, unlink, drag on the CT: the MR keeps its file window
    page.get_by_role("button", name="Reset", exact=True).click()
    wait_ready(page)
    page.get_by_text("Link", exact=True).click()
    wait_ready(page)
    page.wait_for_timeout(500)
    ct, mr = drawn_images(page)
    assert np.array_equal(ct, ct0) and np.array_equal(mr, mr0)
    before = slot_data(page)
    right_drag(page, "xy", 80, 40)                  # wider, higher level
    after = rerun_done(page, before, "1", "ww")
    assert after["1"]["ww"] > before["1"]["ww"] and after["1"]["wl"] > before["1"]["wl"]
    assert after["2"] == before["2"]
    ct, mr = drawn_images(page)
    assert np.array_equal(ct, expect("ct.dcm", View(window=(after["1"]["ww"], after["1"]["wl"]))))
    assert np.array_equal(mr, mr0)
    # the controls' numbers show the dragged window
    page.get_by_role("button", name="Image 1 / Image 2 settings").click()
    page.wait_for_timeout(500)
    widths = page.get_by_role("spinbutton", name="Window width")
    levels = page.get_by_role("spinbutton", name="Window level")
    assert float(widths.nth(0).input_value()) == pytest.approx(after["1"]["ww"], abs=0.01)
    assert float(levels.nth(0).input_value()) == pytest.approx(after["1"]["wl"], abs=0.01)
    assert widths.nth(1).input_value() == ""                 # the MR: still its preset (file window)
    shot(page, "gesture-wl-unlinked-numbers")
    page.keyboard.press("Escape")

    # PNG (no modality): linked, both get the same window
    goto(page, f"{url}/review?b=viewer&pair=sizes")          # a new session: linked again
    before = slot_data(page)
    assert before["1"]["ww"] == 255 and before["1"]["wl"] == 127.5
    right_drag(page, "x2y2", -100, 30)
    after = rerun_done(page, before, "2", "ww")
    assert after["1"]["ww"] == after["2"]["ww"] < 255 and after["1"]["wl"] == after["2"]["wl"] > 127.5
    wide, tall = drawn_images(page)
    win = View(window=(after["1"]["ww"], after["1"]["wl"]))
    assert np.array_equal(wide, expect("wide.png", win)) and np.array_equal(tall, expect("tall.png", win))
    shot(page, "gesture-wl-png-linked")


def test_shift_wheel_and_arrow_keys_step_frames(page, viewer_url):
    from medviz import display
    from medviz.display import View
    url, d = viewer_url
    goto(page, f"{url}/review?b=viewer&pair=multi")
    before = slot_data(page)
    assert before["1"]["frames"] == 15 and before["1"]["frame"] == 1 and before["2"]["frames"] == 1
    r = panel(page, "xy")
    page.mouse.move(r["x"] + r["width"] / 2, r["y"] + r["height"] / 2)
    page.keyboard.down("Shift")
    for _ in range(3):
        page.mouse.wheel(0, 120)
        page.wait_for_timeout(40)
    page.keyboard.up("Shift")
    after = rerun_done(page, before, "1", "frame")
    assert after["1"]["frame"] == 4                          # three steps, one rerun
    f = drawn_images(page)[0]
    frame = lambda i: display.to_uint8(display.decode(str(d / "multi.dcm"), i), View(frame=i)).astype(float)  # noqa: E731
    assert np.array_equal(f, frame(3))
    slider = page.locator("[data-testid='stSlider']", has_text="Image 1 frame").locator("input[type=range]")
    assert slider.input_value() == "4"                       # the frame slider follows
    assert "frame 4/15" in labels(page)[0]
    shot(page, "gesture-frame-shift-wheel")
    page.mouse.move(r["x"] + r["width"] / 2 + 5, r["y"] + r["height"] / 2)
    page.keyboard.press("ArrowDown")
    after2 = rerun_done(page, after, "1", "frame")
    assert after2["1"]["frame"] == 5 and np.array_equal(drawn_images(page)[0], frame(4))
    page.keyboard.press("PageUp")                            # a tenth of 15 frames (2) back
    after3 = rerun_done(page, after2, "1", "frame")
    assert after3["1"]["frame"] == 3
    no_traceback(page)


def test_tab_from_a_quick_tag_reaches_the_rationale(page, viewer_url):
    from .test_browser import sign_in_as
    url, _ = viewer_url
    goto(page, f"{url}/review?b=viewer&pair=sizes")
    sign_in_as(page, "Dr Tab")
    wait_ready(page)
    page.wait_for_function("() => window.__mvGInstalled === true")
    page.wait_for_timeout(500)
    first = page.locator("button", has_text="☐").first
    first.focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Rationale"
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("Tab")                               # from nowhere too
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Rationale"
    shot(page, "gesture-tab-rationale")
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("?")                                 # the help lists the gestures
    help_ = page.locator("#mv-help")
    help_.wait_for(timeout=5_000)
    for key in ("Right-drag", "Shift+scroll, ↑ ↓", "Tab"):
        assert help_.get_by_text(key, exact=True).count() == 1, key
    shot(page, "gesture-help")
