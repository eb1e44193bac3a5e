"""The app under `medviz serve` in a real browser (Debian's chromium through Playwright): a run imported by
the CLI while the app is open appears after a reload; the Data page starts a job, shows it finished, and the
job is still listed after a reload."""
from __future__ import annotations

import pytest

from e2e.harness import browser, chromium_available, page_text, wait_ready
from .harness import cli

pytestmark = pytest.mark.skipif(not chromium_available(), reason="/usr/bin/chromium is absent (make browser)")
pytest.importorskip("playwright.sync_api")

MC = "sample-mediconfusion"


def goto(page, url):
    page.goto(url)
    wait_ready(page, timeout=60_000)


def test_app_under_serve_shows_cli_imports_and_runs_jobs(server, sample_files):
    with browser((1400, 1600)) as ctx:
        page = ctx.new_page()
        goto(page, f"{server.url}/?b={MC}")
        page.wait_for_selector("h1, h2", timeout=30_000)
        assert "from-the-cli" not in page_text(page)

        r = cli("predictions", "import", MC, sample_files["mc_results"]["random-baseline (seed 0)"], "--model",
                "from-the-cli", db=server.db)               # while the app is open: no "in use"
        assert "from-the-cli" in r.stdout
        goto(page, f"{server.url}/?b={MC}")
        page.wait_for_selector("text=from-the-cli", timeout=30_000)

        goto(page, f"{server.url}/data?b={MC}")
        page.get_by_role("tab", name="Export annotations").click()
        page.get_by_role("button", name="Export annotations").click()
        page.wait_for_selector("text=export · done", timeout=30_000)
        text = page_text(page)
        assert "Traceback" not in text and "Internal error" not in text

        goto(page, f"{server.url}/data?b={MC}")              # a reload: the job is still there
        page.wait_for_selector("text=All recent jobs", timeout=30_000)
        table = page_text(page)
        assert "Traceback" not in table
        from medviz.client import Client
        jobs = Client(server.url).jobs()
        assert {"predictions", "export"} <= set(jobs["kind"]) and set(jobs["state"]) == {"done"}
