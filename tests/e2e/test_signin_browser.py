"""Local mode in a real browser: every page says "local mode: anyone at this machine can act under any name",
and the typed reviewer name is remembered by this browser (a reload, a new tab) but not by another one."""
from __future__ import annotations

import shutil

import pytest

from medviz.auth import LOCAL_MODE_NOTICE

from .harness import browser, chromium_available, page_text, streamlit_server, wait_ready

pytestmark = pytest.mark.skipif(not chromium_available(),
                                reason="/usr/bin/chromium is absent (make browser installs it)")
pytest.importorskip("playwright.sync_api")

PAGES = ["", "review", "errors", "embeddings", "statistics", "export"]
NAME = "Dr Cookie <b>Tester</b>"


@pytest.fixture(scope="module")
def app_url(sample_store_file, tmp_path_factory):
    db = str(tmp_path_factory.mktemp("signin") / "app.duckdb")
    shutil.copy(sample_store_file, db)
    with streamlit_server(db) as url:
        yield url


def goto(page, url):
    page.goto(url)
    wait_ready(page)


def test_local_mode_notice_on_every_page_and_name_remembered_per_browser(app_url):
    with browser() as ctx:
        page = ctx.new_page()
        for path in PAGES:
            goto(page, f"{app_url}/{path}")
            page.wait_for_selector(f"text={LOCAL_MODE_NOTICE}", timeout=20_000)
        box = page.get_by_role("textbox", name="Your name (reviewer)")
        box.fill(NAME)
        box.press("Enter")
        page.wait_for_selector(f"text=Reviewer: {NAME}", timeout=20_000)   # shown as text, not markup
        page.wait_for_function("() => document.cookie.includes('medviz_reviewer=')", timeout=20_000)
        page.reload()
        wait_ready(page)
        page.wait_for_selector(f"text=Reviewer: {NAME}", timeout=20_000)
        other_tab = ctx.new_page()
        goto(other_tab, f"{app_url}/statistics")
        other_tab.wait_for_selector(f"text=Reviewer: {NAME}", timeout=20_000)
        # "Change reviewer" forgets it in this browser
        page.get_by_role("button", name="Change reviewer").click()
        page.get_by_role("textbox", name="Your name (reviewer)").wait_for(timeout=20_000)
        page.wait_for_function("() => !document.cookie.includes('medviz_reviewer=')", timeout=20_000)
        page.reload()
        wait_ready(page)
        page.get_by_role("textbox", name="Your name (reviewer)").wait_for(timeout=20_000)
    with browser() as fresh:                                              # another browser: nobody remembered
        page = fresh.new_page()
        goto(page, app_url)
        page.get_by_role("textbox", name="Your name (reviewer)").wait_for(timeout=20_000)
        assert "Reviewer:" not in page_text(page)
