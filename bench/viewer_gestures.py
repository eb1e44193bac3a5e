"""What the viewer's gestures (medviz/ui/viewer_gestures.py) cost, in Chromium and on the server, each against a
baseline measured in the same run:

- window/level by right-drag on the CT of a CT+MR DICOM pair, from the button's release until the image is
  drawn again with the exact window — against choosing a window preset in the selectbox (the same single
  rerun + redraw, the plainest way the page had to change a window);
- frames by Shift+wheel (a burst of 3 ticks) over a 15-frame DICOM until the new frame is drawn — against one
  step of the frame slider (ArrowRight on it);
- script runs per gesture (counted from the app's script-state attribute; a drag or a burst must cost one);
- the component's server-side cost per page run (``viewer_gestures.mount``, AppTest, perf_counter around that
  one call) against the whole Review page run.

Data: pydicom's own test files and generated PNGs (tests/viewer_data.py, synthetic). Ends with RESULT lines;
wall-clock figures: quote the load average printed with them."""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import pathlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from harness import browser, chromium_available, streamlit_server, wait_ready  # noqa: E402
from viewer_data import build_viewer_db  # noqa: E402

REPEAT = int(os.environ.get("MEDVIZ_BENCH_REPEAT", "7"))
FRAME_WAIT_MS = 150       # viewer_gestures.js: frame steps closer than this are sent as one

_COUNT_RUNS = """() => { const a = document.querySelector("[data-testid='stApp']"); window.__mvRuns = 0;
  if (window.__mvObs) window.__mvObs.disconnect();
  window.__mvObs = new MutationObserver(() => { if (a.getAttribute('data-test-script-state') === 'running')
    window.__mvRuns++; });
  window.__mvObs.observe(a, {attributes: true, attributeFilter: ['data-test-script-state']}); }"""
_HREF = """() => { const gd = [...document.querySelectorAll('.js-plotly-plot')].find(g =>
  (g.data || []).some(t => t.name === 'slot1')); const i = gd && gd.querySelector('.subplot.xy .imagelayer image');
  return i ? i.getAttribute('href') : null; }"""


def _redrawn(page, before: str) -> None:
    page.wait_for_function(f"b => ({_HREF})() !== b", arg=before, timeout=30_000)


def _settle(page) -> None:
    wait_ready(page)
    page.wait_for_timeout(700)


def _panel(page, axis: str = "xy") -> dict:
    """The drag surface of one image panel of the viewer's figure (the graph whose traces are slot1, slot2)."""
    return page.evaluate("""a => { const gd = [...document.querySelectorAll('.js-plotly-plot')].filter(g =>
        (g.data || []).some(t => t.name === 'slot1')).pop(); const r = gd.querySelector('.draglayer .' + a +
        ' .nsewdrag').getBoundingClientRect(); return {x: r.x, y: r.y, width: r.width, height: r.height}; }""", axis)


def browser_timings(url: str) -> dict:
    res = {"drag": [], "preset": [], "wheel": [], "slider": [], "drag_runs": [], "wheel_runs": []}
    with browser((1280, 800)) as ctx:
        page = ctx.new_page()
        page.goto(f"{url}/review?b=viewer&pair=ctmr")
        _settle(page)
        page.wait_for_function("() => window.__mvG && window.__mvG.data.unit === 'ctmr'")
        for k in range(REPEAT):
            # baseline: a preset from the selectbox
            before = page.evaluate(_HREF)
            page.get_by_role("combobox", name="Window preset").click()
            opt = page.get_by_role("option", name="Brain" if k % 2 == 0 else "Bone")
            opt.wait_for()
            t = time.perf_counter()
            opt.click()
            _redrawn(page, before)
            res["preset"].append(time.perf_counter() - t)
            _settle(page)
            # the gesture: right-drag on the CT
            before = page.evaluate(_HREF)
            r = _panel(page)
            x, y = r["x"] + r["width"] / 2, r["y"] + r["height"] / 2
            page.mouse.move(x, y)
            page.mouse.down(button="right")
            for s in range(1, 7):
                page.mouse.move(x + (-1) ** k * 10 * s, y - 5 * s)
            page.evaluate(_COUNT_RUNS)
            t = time.perf_counter()
            page.mouse.up(button="right")
            _redrawn(page, before)
            res["drag"].append(time.perf_counter() - t)
            _settle(page)
            res["drag_runs"].append(page.evaluate("window.__mvRuns"))
        page.goto(f"{url}/review?b=viewer&pair=multi")
        _settle(page)
        page.wait_for_function("() => window.__mvG && window.__mvG.data.unit === 'multi'")
        slider = page.locator("[data-testid='stSlider']", has_text="Image 1 frame").locator("input[type=range]")
        for k in range(REPEAT):
            before = page.evaluate(_HREF)
            slider.focus()
            t = time.perf_counter()
            page.keyboard.press("ArrowRight" if k % 2 == 0 else "ArrowLeft")
            _redrawn(page, before)
            res["slider"].append(time.perf_counter() - t)
            _settle(page)
            page.evaluate("document.activeElement.blur()")
            before = page.evaluate(_HREF)
            r = _panel(page)
            page.mouse.move(r["x"] + r["width"] / 2, r["y"] + r["height"] / 2)
            page.evaluate(_COUNT_RUNS)
            page.keyboard.down("Shift")
            for _ in range(3):
                page.mouse.wheel(0, 120 if k % 2 == 0 else -120)
                page.wait_for_timeout(30)
            t = time.perf_counter()                # from the burst's last tick
            page.keyboard.up("Shift")
            _redrawn(page, before)
            res["wheel"].append(time.perf_counter() - t)
            _settle(page)
            res["wheel_runs"].append(page.evaluate("window.__mvRuns"))
    return res


def server_cost(db: str) -> tuple[float, float]:
    """(median mount time, median Review page run) in seconds, AppTest."""
    from streamlit.testing.v1 import AppTest
    from medviz.ui import viewer_gestures as vg
    from medviz.ui.navigation import REVIEW, SPECS
    os.environ["MEDVIZ_DB"] = db
    spent, orig = [], vg.mount

    def timed(*a, **k):
        t = time.perf_counter()
        try:
            return orig(*a, **k)
        finally:
            spent.append(time.perf_counter() - t)
    vg.mount = timed
    try:
        at = AppTest.from_file(os.path.join(ROOT, "app.py"), default_timeout=60)
        at.query_params["pair"] = "ctmr"
        at.run()
        at.switch_page(SPECS[REVIEW].path).run()
        runs = []
        for _ in range(40):
            t = time.perf_counter()
            at.run()
            runs.append(time.perf_counter() - t)
        return statistics.median(spent[-40:]), statistics.median(runs)
    finally:
        vg.mount = orig


def main() -> int:
    if not chromium_available():
        print("chromium is absent: nothing measured")
        return 1
    d = pathlib.Path(tempfile.mkdtemp(prefix="bench-gestures-"))
    db = build_viewer_db(d)
    with streamlit_server(db) as url:
        res = browser_timings(url)
    mount, page_run = server_cost(db)          # after the server is gone (one DuckDB process at a time)
    load = os.getloadavg()
    med = {k: statistics.median(v) for k, v in res.items()}
    print(f"{'step':<44}{'median':>10}{'min':>10}{'max':>10}")
    for k, label in (("preset", "preset from the selectbox -> redrawn (s)"), ("drag", "right-drag release -> redrawn (s)"),
                     ("slider", "frame slider step -> redrawn (s)"), ("wheel", "Shift+wheel x3, last tick -> redrawn (s)"),
                     ("drag_runs", "script runs per drag"), ("wheel_runs", "script runs per wheel burst")):
        v = res[k]
        print(f"{label:<44}{statistics.median(v):>10.3f}{min(v):>10.3f}{max(v):>10.3f}")
    print(f"{'server: mount per page run (ms)':<44}{mount * 1000:>10.3f}")
    print(f"{'server: Review page run, AppTest (ms)':<44}{page_run * 1000:>10.3f}")
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} · repeats {REPEAT}")
    print(f"RESULT viewer_wl_drag_to_exact_p50 {med['drag']:.3f} s (reference: preset {med['preset']:.3f} s)")
    print(f"RESULT viewer_wl_drag_over_preset_change {med['drag'] / med['preset']:.2f} ratio (budget < 1.3)")
    print(f"RESULT viewer_frame_wheel_to_frame_p50 {med['wheel']:.3f} s (reference: slider step {med['slider']:.3f} s "
          f"+ the {FRAME_WAIT_MS / 1000:.2f} s wait that makes a burst one run)")
    print(f"RESULT viewer_frame_wheel_after_wait_over_slider_step {(med['wheel'] - FRAME_WAIT_MS / 1000) / med['slider']:.2f} "
          f"ratio (budget < 1.3)")
    print(f"RESULT viewer_wl_drag_script_runs {max(res['drag_runs'])} runs (budget <= 1)")
    print(f"RESULT viewer_frame_wheel_script_runs {max(res['wheel_runs'])} runs (budget <= 1)")
    print(f"RESULT viewer_gestures_mount_share {mount / page_run:.3f} ratio (budget < 0.05)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
