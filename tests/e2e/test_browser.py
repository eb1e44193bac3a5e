"""The real thing: `streamlit run app.py` on 127.0.0.1 with a database built by `medviz demo`, driven by
Playwright in Debian's chromium. Opens every page (no traceback anywhere), opens a pair by deep link, tags
it with the keyboard, sees Statistics count it, downloads the CSV and finds the row. Screenshots of every
page go to test-artifacts/ (not committed); with MEDVIZ_UPDATE_SCREENSHOTS=1 the Review screenshot for the README
is also written to docs/screenshots/."""
from __future__ import annotations

import csv
import io
import os

import pytest

from .harness import (ARTIFACTS, ROOT, browser, build_demo_db, chromium_available, open_first_error_row,
                      page_text, streamlit_server, wait_ready)

pytestmark = pytest.mark.skipif(not chromium_available(),
                                reason="/usr/bin/chromium is absent (make browser installs it)")
pytest.importorskip("playwright.sync_api")

PAGES = {"leaderboard": "", "review": "review", "errors": "errors", "embeddings": "embeddings",
         "statistics": "statistics", "compare": "compare", "export": "export"}
BENCH = "sample-mediconfusion"
REVIEWER = "E2E Reviewer"


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    db = build_demo_db(tmp_path_factory.mktemp("e2e"))
    # pick an error pair nobody has tagged yet (the store is closed again before the app opens it)
    from medviz.readmodels import errors, review
    from medviz.store import Store
    with Store(db) as s:
        tagged = errors.annotation_index(s, BENCH).units_with([], [])
        target = review.next_untagged_error(s, BENCH, None, None, tagged)
    assert target, "the demo should have an untagged error pair"
    return db, target


@pytest.fixture(scope="module")
def app_url(demo_db):
    with streamlit_server(demo_db[0]) as url:
        yield url


@pytest.fixture(scope="module")
def page(app_url):
    with browser((1500, 1800)) as ctx:
        p = ctx.new_page()
        yield p


def sign_in_as(page, reviewer: str) -> None:
    """Local mode: type the reviewer name (the browser remembers the last one: change it first if shown)."""
    box = page.get_by_role("textbox", name="Your name (reviewer)")
    change = page.get_by_role("button", name="Change reviewer")
    box.or_(change).first.wait_for(timeout=20_000)
    if change.count():
        change.click()
    box.fill(reviewer)
    box.press("Enter")
    page.wait_for_selector(f"text=Reviewer: {reviewer}", timeout=20_000)


def blur(page):
    page.evaluate("document.activeElement && document.activeElement.blur()")


def goto(page, url):
    page.goto(url)
    wait_ready(page)


def assert_no_traceback(page):
    text = page_text(page)
    assert "Traceback" not in text and "Internal error" not in text, text[:2000]


def shot(page, name, path=None):
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.wait_for_timeout(700)          # let plotly and images paint
    page.screenshot(path=path or os.path.join(ARTIFACTS, f"{name}.png"), full_page=True)


def tag_count(page, app_url, tag) -> int:
    goto(page, f"{app_url}/statistics?b={BENCH}")
    text = page_text(page)
    for line in text.splitlines():
        if line.startswith(f"{tag}:"):
            return int(line.split(":", 1)[1].split("of")[0].strip())
    return 0


def test_every_page_opens_without_a_traceback(page, app_url):
    for name, path in PAGES.items():
        goto(page, f"{app_url}/{path}?b={BENCH}")
        page.wait_for_selector("h1, h2", timeout=20_000)
        assert_no_traceback(page)
        shot(page, name)


def test_deep_link_keyboard_tag_statistics_and_csv(page, app_url, demo_db):
    _, target = demo_db
    from medviz.annotations import load_taxonomy
    tag = load_taxonomy().leaves()[0]                     # bound to key 1
    before = tag_count(page, app_url, tag)

    goto(page, f"{app_url}/review?pair={target}&b={BENCH}")
    assert f"Pair\n{target}" in page_text(page) or target in page.inner_text("h2")
    sign_in_as(page, REVIEWER)
    wait_ready(page)
    blur(page)                                            # focus out of any input: keys go to shortcuts
    page.keyboard.press("1")
    page.wait_for_selector(f"button:has-text('☑ {tag.rsplit('/', 1)[-1]}')", timeout=20_000)
    wait_ready(page)
    page.keyboard.press("Control+Enter")
    page.wait_for_selector(f"text=Saved {target}", timeout=20_000)
    wait_ready(page)
    assert_no_traceback(page)
    assert f"pair={target}" not in page.url               # moved on to the next untagged error
    shot(page, "review-after-save")

    blur(page)
    current = page.url
    page.keyboard.press("j")                              # next pair
    page.wait_for_function("u => window.location.href !== u", arg=current, timeout=20_000)
    wait_ready(page)

    assert tag_count(page, app_url, tag) == before + 1
    shot(page, "statistics-after-save")

    goto(page, f"{app_url}/export?b={BENCH}")
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download CSV").click()
    body = open(dl.value.path(), encoding="utf-8").read()
    rows = list(csv.DictReader(io.StringIO(body)))
    mine = [r for r in rows if r.get("reviewer") == REVIEWER]
    assert len(mine) == 1, body[:1000]
    from medviz.export import full_tag                      # the export splits the tag into group and sub-tag
    assert mine[0]["target_id"] == target and full_tag(mine[0]["tag_group"], mine[0]["tag"]) == tag


def test_errors_row_opens_review(page, app_url):
    goto(page, f"{app_url}/errors?b={BENCH}&outcome=confused")
    open_first_error_row(page)
    assert "pair=" in page.url
    assert_no_traceback(page)


def test_readme_screenshot_of_review(page, app_url):
    goto(page, f"{app_url}/review?pair=s004&b={BENCH}")
    sign_in_as(page, "Dr A. Rivera")
    wait_ready(page)
    blur(page)
    page.keyboard.press("8")                              # a quick tag, to show the form in use
    wait_ready(page)
    page.wait_for_selector(".js-plotly-plot", timeout=20_000)
    assert_no_traceback(page)
    page.set_viewport_size({"width": 1400, "height": 2000})
    # The README's screenshot is refreshed only on request, so `make test` leaves the work tree clean.
    readme_shot = (os.path.join(ROOT, "docs", "screenshots", "review.png")
                   if os.environ.get("MEDVIZ_UPDATE_SCREENSHOTS") else None)
    shot(page, "review-readme", readme_shot)
    shot(page, "review-s004")
