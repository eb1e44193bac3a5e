"""Context follows the user, in Chromium (issue 13): an Errors filter with one model -> a row -> Review steps
through that filtered list ("1 / 5 of: wrong · MRI · image-blind-baseline") -> "Back to the list" shows the same
filter and rows. Also the model-vs-model page (its screenshot for the README with MEDVIZ_UPDATE_SCREENSHOTS=1)."""
from __future__ import annotations

import os
from urllib.parse import parse_qs, urlparse

import pytest

from .harness import (ARTIFACTS, ROOT, browser, build_demo_db, chromium_available, open_first_error_row,
                      page_text, streamlit_server, wait_ready)

pytestmark = pytest.mark.skipif(not chromium_available(),
                                reason="/usr/bin/chromium is absent (make browser installs it)")
pytest.importorskip("playwright.sync_api")

BENCH = "sample-mediconfusion"
MODEL = "image-blind-baseline"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    db = build_demo_db(tmp_path_factory.mktemp("e2e-ctx"))
    from medviz.readmodels.errors import ErrorFilter
    from medviz.readmodels.lists import ReviewList
    from medviz.store import Store
    rl = ReviewList.errors(ErrorFilter(outcome="wrong", modalities=["MRI"]), [MODEL])
    with Store(db, read_only=True) as s:
        units = rl.unit_ids(s, BENCH)
    assert len(units) >= 3, units
    return db, units


@pytest.fixture(scope="module")
def page(demo):
    with streamlit_server(demo[0]) as url:
        with browser((1500, 1400)) as ctx:
            p = ctx.new_page()
            p.app_url = url
            yield p


def _q(url: str) -> dict:
    return parse_qs(urlparse(url).query)


def test_filter_row_review_next_and_back_to_the_same_list(page, demo):
    _, units = demo
    page.goto(f"{page.app_url}/errors?b={BENCH}&outcome=wrong&modalities=MRI&m={MODEL}")
    wait_ready(page)
    text = page_text(page)
    assert "Traceback" not in text
    open_first_error_row(page)
    q = _q(page.url)
    assert q["list"] == ["errors"] and q["outcome"] == ["wrong"] and q["modalities"] == ["MRI"]
    assert q["pair"] == [units[0]]
    label = f"of: wrong · MRI · {MODEL}"
    page.wait_for_selector(f"text=1 / {len(units)} {label}", timeout=20_000)

    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.keyboard.press("j")                                    # next within the filtered list
    page.wait_for_function("u => window.location.href.includes('pair=' + u)", arg=units[1], timeout=20_000)
    wait_ready(page)
    page.wait_for_selector(f"text=2 / {len(units)} {label}", timeout=20_000)
    assert _q(page.url)["list"] == ["errors"]
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, "review-in-a-list.png"), full_page=True)

    page.get_by_text("Back to the list").click()
    page.wait_for_url("**/errors?*", timeout=20_000)
    wait_ready(page)
    q = _q(page.url)
    assert q["outcome"] == ["wrong"] and q["modalities"] == ["MRI"] and q.get("m") == [MODEL]
    page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=20_000)
    text = page_text(page)
    assert "Traceback" not in text
    # the same filter in the widgets, and the same rows: one per unit of the list (one model selected)
    box = page.locator("[data-testid='stSelectbox']").filter(has_text="Outcome").first
    outcome = box.evaluate("e => e.innerHTML")
    assert "wrong" in outcome and "any error" not in outcome, outcome[:3000]
    assert f"rows (pair × model)\n\n{len(units)}" in text or f"rows (pair × model)\n{len(units)}" in text, \
        text[:600]


def test_model_vs_model_page(page):
    page.goto(f"{page.app_url}/compare?b={BENCH}&ma=synthetic-freetext+%28hand-written%29&mb=random-baseline+%28seed+0%29")
    wait_ready(page)
    page.wait_for_selector("text=McNemar", timeout=20_000)
    text = page_text(page)
    assert "Traceback" not in text and "units both answered" in text
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.wait_for_timeout(700)
    path = (os.path.join(ROOT, "docs", "screenshots", "model-vs-model.png")
            if os.environ.get("MEDVIZ_UPDATE_SCREENSHOTS") else os.path.join(ARTIFACTS, "model-vs-model.png"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    page.screenshot(path=path, full_page=True)
