"""Start ``streamlit run app.py`` on a free 127.0.0.1 port against a given database, and open Debian's
chromium through Playwright (never ``playwright install``). Shared by the e2e tests and bench/ui.py."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run"]


ARTIFACTS = os.path.join(ROOT, "test-artifacts")     # screenshots of the browser tests (not committed)


def build_demo_db(directory) -> str:
    """``medviz demo`` into ``directory``; returns the database path (the store is closed again)."""
    db = os.path.join(str(directory), "demo.duckdb")
    subprocess.run([sys.executable, "-m", "medviz.cli", "demo", "--db", db, "--out", os.path.join(str(directory), "sd")],
                   check=True, cwd=ROOT, capture_output=True)
    return db


def chromium_available() -> bool:
    return os.path.exists(CHROMIUM) or shutil.which("chromium") is not None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_server(db_path: str, *, timeout: float = 60.0, env_extra: dict | None = None, app: str | None = None):
    """Yield the base URL of a running app; the server is stopped (its own process group) afterwards."""
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", app or os.path.join(ROOT, "app.py"), "--server.address", "127.0.0.1",
           "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    with _served(cmd, port, dict(env_extra or {}, MEDVIZ_DB=db_path), db_path + f".streamlit-{port}.log",
                 timeout, "streamlit") as url:
        yield url


@contextmanager
def medviz_server(db_path: str, *, timeout: float = 60.0, env_extra: dict | None = None):
    """Yield the base URL of ``medviz serve --db DB`` (what ``make run`` starts: app + API + jobs, with the
    cache warm-up in its lifespan) on a free port; stopped (its own process group) afterwards."""
    port = free_port()
    cmd = [sys.executable, "-m", "medviz.cli", "serve", "--db", db_path, "--port", str(port)]
    with _served(cmd, port, dict(env_extra or {}, MEDVIZ_DB=None), db_path + f".serve-{port}.log",
                 timeout, "medviz serve") as url:
        yield url


@contextmanager
def _served(cmd: list, port: int, env_extra: dict, log_path: str, timeout: float, what: str):
    """Run ``cmd`` (a server on ``port``) in its own process group, logging to ``log_path``; env_extra values
    of None remove the variable."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    for k, v in env_extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, timeout, log, log_path, what)
        yield url
    finally:
        _stop(proc)
        log.close()


def _wait_healthy(url, proc, timeout, log, log_path, what) -> None:
    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            log.flush()
            raise RuntimeError(f"{what} did not start:\n" + open(log_path, errors="replace").read()[-3000:])
        time.sleep(0.2)


def _stop(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@contextmanager
def browser(viewport=(1500, 1100)):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            ctx = b.new_context(viewport={"width": viewport[0], "height": viewport[1]}, accept_downloads=True)
            yield ctx
        finally:
            b.close()


def wait_ready(page, timeout: float = 30_000) -> None:
    """Wait until the app is connected and its script run has finished."""
    page.wait_for_function(
        """() => { const a = document.querySelector("[data-testid='stApp']");
                   return a && a.getAttribute('data-test-connection-state') === 'CONNECTED'
                          && a.getAttribute('data-test-script-state') === 'notRunning'; }""", timeout=timeout)


# Drawn, not only sent: no element of the page is still a loading skeleton (Streamlit shows one while an
# element's code is fetched, e.g. the first st.html of a page load), every plotly chart has drawn its SVG and
# every dataframe its canvas.
DRAWN = """() => {
  const main = document.querySelector("[data-testid='stMain']");
  if (!main || main.querySelector("[data-testid^='stSkeleton']")) return false;
  for (const c of main.querySelectorAll("[data-testid='stPlotlyChart']"))
    if (!c.querySelector('.main-svg')) return false;
  for (const d of main.querySelectorAll("[data-testid='stDataFrame']"))
    if (!d.querySelector('canvas')) return false;
  return true; }"""


def wait_drawn(page, timeout: float = 30_000) -> None:
    """``wait_ready``, then until every element of the page is drawn (``DRAWN``)."""
    wait_ready(page, timeout)
    page.wait_for_function(DRAWN, timeout=timeout, polling="raf")


def page_text(page) -> str:
    return page.inner_text("[data-testid='stApp']")


def open_first_error_row(page) -> None:
    """On the Errors page: tick the first row of the table (which opens it in Review) and wait for Review."""
    grid = page.locator("[data-testid='stDataFrame']").first
    grid.wait_for(timeout=20_000)
    page.wait_for_timeout(500)
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 14, box["y"] + 36 + 32)   # the selection checkbox of the first row
    page.wait_for_url("**/review?*", timeout=20_000)
    wait_ready(page)
