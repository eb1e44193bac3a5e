"""The Data page and the "compute embeddings" button start real jobs (AppTest, no browser): the job runs,
its progress shows, and its result is in the store."""
from __future__ import annotations

import pathlib
import time

import pytest

pytest.importorskip("streamlit.testing.v1")
from streamlit.testing.v1 import AppTest  # noqa: E402

from .harness import copy_store  # noqa: E402

APP = str(pathlib.Path(__file__).resolve().parents[2] / "app.py")
MC = "sample-mediconfusion"


@pytest.fixture
def app(sample_store_file, tmp_path, monkeypatch):
    db = copy_store(sample_store_file, str(tmp_path / "page.duckdb"))
    monkeypatch.setenv("MEDVIZ_DB", db)

    def make():
        at = AppTest.from_file(APP, default_timeout=90)
        at.query_params["b"] = MC
        return at.run()
    return make, db


def _wait_jobs(db, kind):
    from medviz.ui.jobs import _local_runner
    r = _local_runner(db)
    deadline = time.time() + 60
    while time.time() < deadline:
        js = [j for j in r.list(10, kind)]
        if js and all(j["state"] in ("done", "failed", "cancelled") for j in js):
            return js
        time.sleep(0.1)
    raise AssertionError("job did not finish")


def test_data_page_renders_and_exports_through_a_job(app):
    make, db = app
    at = make()
    at.switch_page("app_pages/data.py").run()
    assert not at.exception
    at.button(key="data_export_start").click().run()
    js = _wait_jobs(db, "export")
    assert js[0]["state"] == "done" and js[0]["result"]["path"].endswith(".csv")
    at.run()
    assert not at.exception
    assert any(b.label.startswith("Download annotations-") for b in at.get("download_button"))


def test_embeddings_advice_is_a_button_that_starts_the_job(app):
    from medviz.store import Store
    from medviz.store import embeddings as esql
    make, db = app
    at = make()
    at.switch_page("app_pages/embeddings.py").run()
    assert not at.exception
    start = [b for b in at.button if "Compute `pixels` embeddings" in b.label]
    assert start, [b.label for b in at.button]
    start[0].click().run()
    js = _wait_jobs(db, "embed")
    assert js[0]["state"] == "done" and js[0]["result"]["n_new"] > 0
    from medviz.ui import data
    assert "pixels" in esql.computed_encoders(data.store(db).cursor(), MC)
