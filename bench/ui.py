"""Browser timings of the app with 10,000 pairs loaded (Playwright + Debian chromium).

Builds a generic-CSV benchmark of 10,000 generated pairs (20,000 small PNGs) and three prediction runs,
loads them with the normal importers (`medviz ingest`, `medviz predictions import`, `medviz embed --encoder
pixels`), starts `medviz serve` (what `make run` starts: app + API + jobs in one process, whose lifespan warms the
caches) and measures, in the same run:

- baseline: loading Streamlit's bare health page in the same browser (the floor of any page load);
- each page's ready time (script run finished and its main content drawn), by full page load (goto) and by
  clicking the page in the sidebar (in-app navigation), cold (first visit) and warm;
- save tag -> next pair on Review (Ctrl+Enter until the next pair is drawn), median of several saves;
- a quick-tag toggle on Review (key 1 until its button shows the new state; the tagging form is a fragment, so
  the images are not redrawn), median of several toggles;
- J / K between pairs on Review (until the new pair is drawn).

The four budgets of issue 12 are the RESULT lines ui_save_to_next_p50, ui_tag_toggle_p50,
ui_first_visit_after_start (the first page load, Leaderboard, as soon as `medviz serve` answers its health check)
and ui_nav_max (the slowest in-app navigation: sidebar links and J/K). The same first visit under a plain
`streamlit run app.py` (no start-up hook, so no warm-up before the first request) is printed for reference. The load average is printed with them: these are wall-clock timings.

Ends with RESULT lines. Generated data is synthetic (random images and answers) and lives in bench/out/.
"""
from __future__ import annotations

import csv
import os
import random
import statistics
import subprocess
import sys
import time

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from harness import (browser, chromium_available, medviz_server, streamlit_server, wait_drawn,  # noqa: E402
                     wait_ready)

N_PAIRS = int(os.environ.get("MEDVIZ_BENCH_PAIRS", "10000"))
OUT = os.path.join(ROOT, "bench", "out", f"ui_{N_PAIRS}")
BENCH = "ui_bench"
MODELS = ("synthetic-model-a", "synthetic-model-b", "synthetic-model-c")
MODALITIES = ("CT", "MR", "X-ray", "Ultrasound", "Fundus photography")
PAGES = [("Leaderboard", "", "Leaderboard"), ("Review", "review", None), ("Errors", "errors", "Errors"),
         ("Embeddings", "embeddings", "Embeddings"), ("Statistics", "statistics", "Statistics"),
         ("Export", "export", "Export")]


def medviz(*args):
    subprocess.run([sys.executable, "-m", "medviz.cli", *args], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)


def build(db: str) -> None:
    rng = np.random.default_rng(0)
    img_dir = os.path.join(OUT, "images")
    os.makedirs(img_dir, exist_ok=True)
    rows, preds = [], []
    r = random.Random(0)
    for p in range(N_PAIRS):
        pid = f"p{p:05d}"
        mod = MODALITIES[p % len(MODALITIES)]
        base = rng.integers(0, 255, (48, 48), dtype=np.uint8)
        for slot in (1, 2):
            rel = f"images/{pid}_{slot}.png"
            full = os.path.join(OUT, rel)
            if not os.path.exists(full):
                arr = base if slot == 1 else np.fliplr(base)
                Image.fromarray(arr).resize((96, 96)).save(full, optimize=False, compress_level=1)
            ans = "A" if slot == 1 else "B"
            rows.append({"item_id": f"{pid}-{slot}", "image_path": rel, "pair_id": pid, "slot": slot,
                         "question": f"Synthetic question {p % 97}: is this image mirrored?",
                         "A": "No", "B": "Yes", "answer": ans, "modality": mod,
                         "category": f"cat{p % 7}", "department": f"dept{p % 4}"})
            for m in MODELS:
                preds.append({"item_id": f"{pid}-{slot}", "model": m, "prediction": r.choice("AB")})
    csv_path = os.path.join(OUT, "benchmark.csv")
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    pred_path = os.path.join(OUT, "predictions.csv")
    with open(pred_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(preds[0]))
        w.writeheader()
        w.writerows(preds)
    medviz("ingest", csv_path, "--id", BENCH, "--db", db)
    medviz("predictions", "import", BENCH, pred_path, "--synthetic", "--db", db)
    medviz("embed", BENCH, "--encoder", "pixels", "--db", db)


# Review: the pair named in the heading is the one the image figure shows (plotly's uirevision is the unit id),
# with its images in the SVG.
PAIR_DRAWN = """() => {
  const h = document.querySelector('h2'); const m = h && h.innerText.match(/^(?:Pair|Item)\\s+(\\S+)/);
  const gd = document.querySelector("[data-testid='stPlotlyChart'] .js-plotly-plot");
  return !!(m && gd && gd.layout && gd.layout.uirevision === m[1] && gd.querySelector('g.imagelayer image')); }"""


def ready_content(page, heading: str | None, timeout=60_000) -> None:
    wait_ready(page, timeout)
    if heading:
        page.wait_for_selector(f"h1:has-text('{heading}')", timeout=timeout)
    else:
        page.wait_for_selector("h2:has-text('Pair')", timeout=timeout)
        page.wait_for_function(PAIR_DRAWN, timeout=timeout, polling="raf")
    wait_drawn(page, timeout)


def next_pair_drawn(page, old: str, timeout=30_000) -> None:
    """After a save or J/K: the heading names another pair, the run finished and that pair's images are drawn."""
    page.wait_for_function("old => { const h = document.querySelector('h2'); return h && h.innerText !== old; }",
                           arg=old, timeout=timeout, polling="raf")
    wait_ready(page, timeout)
    page.wait_for_function(PAIR_DRAWN, timeout=timeout, polling="raf")


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> int:
    if not chromium_available():
        print("chromium not installed (make browser); skipping")
        return 0
    os.makedirs(OUT, exist_ok=True)
    import shutil
    pristine = os.path.join(OUT, "pristine.duckdb")      # imported once, copied for every run
    if not os.path.exists(pristine):
        t = time.perf_counter()
        build(pristine + ".tmp")
        os.replace(pristine + ".tmp", pristine)
        print(f"built and imported {N_PAIRS:,} pairs ({2 * N_PAIRS:,} images, {len(MODELS)} models) "
              f"in {time.perf_counter() - t:.1f} s")
    db = os.path.join(OUT, "run.duckdb")
    for f in (db, db + ".wal"):
        if os.path.exists(f):
            os.remove(f)
    shutil.rmtree(os.path.join(OUT, "run_files"), ignore_errors=True)
    shutil.copyfile(pristine, db)
    res = {}
    blank = os.path.join(OUT, "blank_app.py")            # the baseline: a bare Streamlit page, same browser
    with open(blank, "w") as f:
        f.write("import streamlit as st\nst.title('Blank')\n")
    with streamlit_server(db, timeout=120, app=blank) as burl, browser((1400, 1000)) as ctx:
        page = ctx.new_page()
        page.goto(burl)
        ready_content(page, "Blank")
        res["baseline_blank"] = statistics.median(
            [timed(lambda: (page.goto(burl), ready_content(page, "Blank"))) for _ in range(5)])
    with streamlit_server(db, timeout=120) as url, browser((1400, 1000)) as ctx:   # reference: plain streamlit run
        page = ctx.new_page()
        res["first_visit_streamlit_run"] = timed(lambda: (page.goto(f"{url}/?b={BENCH}"), ready_content(page, "Leaderboard")))
    with medviz_server(db, timeout=120) as url, browser((1400, 1000)) as ctx:
        page = ctx.new_page()
        base = [timed(lambda: page.goto(url + "/_stcore/health")) for _ in range(5)]
        res["baseline"] = statistics.median(base)
        goto = {}
        for label, path, heading in PAGES:
            cold = timed(lambda: (page.goto(f"{url}/{path}?b={BENCH}"), ready_content(page, heading)))
            warm = timed(lambda: (page.goto(f"{url}/{path}?b={BENCH}"), ready_content(page, heading)))
            goto[label] = (cold, warm)
        nav = {}
        page.goto(f"{url}/?b={BENCH}")
        ready_content(page, "Leaderboard")
        for label, path, heading in PAGES[1:] + PAGES[:1]:
            link = page.locator("[data-testid='stSidebarNav'] a", has_text=label).first
            nav[label] = timed(lambda: (link.click(), page.wait_for_url(f"**/{path}*") if path else None,
                                        ready_content(page, heading)))
        # save -> next pair on Review
        page.goto(f"{url}/review?pair=p00000&b={BENCH}")
        ready_content(page, None)
        box = page.get_by_role("textbox", name="Your name (reviewer)")
        box.fill("bench reviewer")
        box.press("Enter")
        page.wait_for_selector("text=Reviewer: bench reviewer")
        wait_ready(page)
        saves = []
        for i in range(13):              # the first is a warm-up; the median of the other 12
            page.evaluate("document.activeElement && document.activeElement.blur()")
            cur = page.inner_text("h2")
            page.keyboard.press("1")
            page.wait_for_selector("button:has-text('☑')")
            wait_ready(page)
            t = time.perf_counter()
            page.keyboard.press("Control+Enter")
            next_pair_drawn(page, cur)
            saves.append(time.perf_counter() - t)
        res["save_next"] = statistics.median(saves[1:])
        # quick-tag toggles (fragment rerun only)
        toggles = []
        for i in range(9):
            page.evaluate("document.activeElement && document.activeElement.blur()")
            first = ("() => { const b = [...document.querySelectorAll('button')]"
                     ".find(b => /^[☐☑]/.test(b.innerText.trim())); return b ? b.innerText.trim()[0] : null; }")
            want = "☐" if page.evaluate(first) == "☑" else "☑"     # quick tag 1's button, the one key 1 toggles
            t = time.perf_counter()
            page.keyboard.press("1")
            page.wait_for_function(f"want => ({first})() === want", arg=want, timeout=30_000)
            wait_ready(page)
            toggles.append(time.perf_counter() - t)
        res["toggle"] = statistics.median(toggles[1:])
        # J / K between pairs
        steps = []
        for key in "jjkjk":
            page.evaluate("document.activeElement && document.activeElement.blur()")
            cur = page.inner_text("h2")
            t = time.perf_counter()
            page.keyboard.press(key)
            next_pair_drawn(page, cur)
            steps.append(time.perf_counter() - t)
        res["jk"] = steps
    print(f"\n{'page':<12}{'goto cold':>11}{'goto warm':>11}{'sidebar nav':>13}   (seconds)")
    print(f"{'(baseline: bare Streamlit page)':<34}{res['baseline_blank']:>11.3f}   health endpoint {res['baseline']:.3f}")
    for label, _, _ in PAGES:
        c, w = goto[label]
        print(f"{label:<12}{c:>11.3f}{w:>11.3f}{nav[label]:>13.3f}")
    print(f"save tag -> next pair: median {res['save_next']:.3f} s over {len(saves) - 1} saves "
          f"(all: {', '.join(f'{s:.3f}' for s in saves)})")
    worst_warm = max(w for _, w in goto.values())
    worst_cold = max(c for c, _ in goto.values())
    worst_nav = max(nav.values())
    first_label = PAGES[0][0]
    first_visit = goto[first_label][0]
    nav_max = max(worst_nav, max(res["jk"]))
    load = os.getloadavg()
    print(f"quick-tag toggle: median {res['toggle']:.3f} s over {len(toggles) - 1} toggles "
          f"(all: {', '.join(f'{s:.3f}' for s in toggles)})")
    print(f"J/K between pairs: {', '.join(f'{s:.3f}' for s in res['jk'])} s")
    print(f"first visit after server start ({first_label}, cold, medviz serve): {first_visit:.3f} s; "
          f"under a plain `streamlit run app.py`: {res['first_visit_streamlit_run']:.3f} s (reference)")
    print(f"load average (1, 5, 15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    print(f"RESULT ui_baseline_blank_streamlit_page {res['baseline_blank']:.3f} s (reference)")
    print(f"RESULT ui_page_ready_nav_max {worst_nav:.3f} s (budget < 2)")
    print(f"RESULT ui_page_ready_goto_warm_max {worst_warm:.3f} s (budget < 2)")
    print(f"RESULT ui_page_ready_goto_cold_max {worst_cold:.3f} s (budget < 2)")
    print(f"RESULT ui_save_to_next_pair {res['save_next']:.3f} s (budget < 0.5)")
    print(f"RESULT ui_save_to_next_p50 {res['save_next']:.3f} s (budget < 0.2)")
    print(f"RESULT ui_tag_toggle_p50 {res['toggle']:.3f} s (budget < 0.1)")
    print(f"RESULT ui_first_visit_after_start {first_visit:.3f} s (budget < 2)")
    print(f"RESULT ui_nav_max {nav_max:.3f} s (budget < 1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
