"""`medviz serve` for real: one process on 127.0.0.1 serving the app and /api/v1, while the CLI imports,
ingests and embeds through it (no "in use" error), and the API answers in its contract shapes."""
from __future__ import annotations

import json
import os

import pytest
import requests

from medviz.client import Client, ClientError

from .harness import Server, cli

MC = "sample-mediconfusion"
GMAI = "sample-gmai"

CONTRACT = [
    ("get", "/health"), ("get", "/benchmarks"), ("post", "/benchmarks"),
    ("get", "/benchmarks/{benchmark_id}/models"), ("get", "/benchmarks/{benchmark_id}/scores"),
    ("get", "/benchmarks/{benchmark_id}/errors"), ("get", "/benchmarks/{benchmark_id}/units/{unit_id}"),
    ("post", "/benchmarks/{benchmark_id}/predictions"), ("get", "/jobs/{job_id}"),
    ("get", "/benchmarks/{benchmark_id}/annotations"), ("post", "/benchmarks/{benchmark_id}/annotations"),
    ("post", "/annotations/{annotation_id}/revisions"), ("post", "/annotations/{annotation_id}/retract"),
    ("get", "/benchmarks/{benchmark_id}/annotations.csv"), ("put", "/embeddings/{encoder_id}"),
]


def test_app_and_api_on_one_port(server):
    h = requests.get(server.api + "/health", timeout=10).json()
    assert h["status"] == "ok" and h["mode"] == "local"
    app = requests.get(server.url + "/", timeout=10)
    assert app.status_code == 200 and "<div id=\"root\">" in app.text
    assert requests.get(server.url + "/_stcore/health", timeout=10).text == "ok"
    doc = requests.get(server.api + "/openapi.json", timeout=10).json()
    assert doc["servers"] == [{"url": "/api/v1"}]
    ops = {(m, p) for p, v in doc["paths"].items() for m in v}
    assert set(CONTRACT) <= ops, set(CONTRACT) - ops
    for p, v in doc["paths"].items():
        for m, op in v.items():
            assert op.get("summary"), f"{m.upper()} {p} has no description"
            assert {"400", "401", "403", "404"} <= set(op["responses"]), f"{m.upper()} {p}: error replies missing"


def test_server_file_names_the_server_and_goes_away(server):
    info = json.load(open(server.db + ".server.json"))
    assert info["url"] == server.url and info["pid"] == server.proc.pid
    server.stop()
    assert not os.path.exists(server.db + ".server.json")


def test_reads_match_the_cli_and_errors_are_json(server):
    c = Client(server.url)
    assert set(c.benchmarks()["benchmark_id"]) == {MC, GMAI}
    api_scores = c.scores(MC)
    assert api_scores and all("set_accuracy" in m for m in api_scores.values())
    page = c.errors(MC, page_size=5, outcome="all")
    assert page["page_size"] == 5 and len(page["rows"]) == 5 and page["counts"]["rows"] >= 5
    unit_id = page["rows"][0]["unit_id"]
    u = c.unit(MC, unit_id)
    assert u["unit_id"] == unit_id and u["is_pair"] and len(u["slots"]) == 2
    assert all("image_path" not in s for s in u["slots"])          # no server paths leak

    r = requests.get(server.api + "/benchmarks/nope/scores", timeout=10)
    assert r.status_code == 404
    assert r.json() == {"error": "benchmark 'nope' is not in the store", "file": None, "record": "nope",
                        "field": "benchmark_id"}
    r = requests.get(server.api + f"/benchmarks/{MC}/errors", params={"page_size": 0}, timeout=10)
    assert r.status_code == 400 and r.json()["field"] == "page_size" and "Traceback" not in r.text
    r = requests.get(server.api + f"/benchmarks/{MC}/units/no-such-unit", timeout=10)
    assert r.status_code == 404 and r.json()["record"] == "no-such-unit"
    r = requests.get(server.api + "/jobs/nope", timeout=10)
    assert r.status_code == 404 and r.json()["field"] == "job_id"

    server.stop()      # the same numbers from the file, through the CLI
    offline = json.loads(cli("scores", MC, "--json", db=server.db).stdout)
    assert json.loads(json.dumps(offline).replace("NaN", "null")) == api_scores


def test_cli_imports_ingests_and_embeds_while_the_server_runs(server, sample_files):
    # no --server: the CLI finds the server through <db>.server.json instead of failing on the file lock
    r = cli("predictions", "import", MC, sample_files["mc_results"]["random-baseline (seed 0)"], "--model",
            "pipeline-model", db=server.db)
    assert "in use" not in r.stderr and "pipeline-model" in r.stdout
    r = cli("ingest", sample_files["generic_csv"], "--kind", "generic", "--id", "served-generic", db=server.db)
    assert "loaded benchmark 'served-generic'" in r.stdout and "0 images missing" in r.stdout
    r = cli("embed", "served-generic", "--encoder", "pixels", db=server.db)
    assert "8 new" in r.stdout or "new" in r.stdout, r.stdout
    r = cli("list", db=server.db)
    assert "served-generic (generic): 8 items, 4 pairs" in r.stdout and "pipeline-model" in r.stdout

    c = Client(server.url)
    assert "pipeline-model" in set(c.models(MC)["model"])
    jobs = c.jobs()
    assert {"predictions", "ingest", "embed"} <= set(jobs["kind"]) and set(jobs["state"]) == {"done"}
    emb = [j for j in jobs.to_dict("records") if j["kind"] == "embed"][0]
    assert emb["result"]["n_new"] == emb["result"]["n_images"] > 0

    server.stop()      # what the server wrote is in the file
    from medviz.store import Store, core
    from medviz.store import embeddings as esql
    with Store(server.db, read_only=True) as s:
        assert "pipeline-model" in set(core.models(s.cursor(), MC)["model"])
        assert core.benchmark(s.cursor(), "served-generic")["n_items"] == 8
        assert "pixels" in esql.computed_encoders(s.cursor(), "served-generic")


def test_upload_import_and_bad_file_job_fails_with_the_file_named(server, sample_files, tmp_path):
    c = Client(server.url, user="Pipeline")
    job = c.import_predictions(GMAI, sample_files["gmai_preds"]["random-baseline (seed 0)"], model="uploaded")
    assert job["state"] == "done" and job["result"]["models"] == {"uploaded": 10}
    assert "path" not in job["params"]                      # server paths of uploads are not shown
    bad = tmp_path / "bad.csv"
    bad.write_text("item_id,model,prediction\nno-such-item,m,A\n")
    with pytest.raises(ClientError) as e:
        c.import_predictions(GMAI, str(bad))
    assert "no-such-item" in str(e.value) and "failed" in str(e.value)
    assert "uploaded" in set(c.models(GMAI)["model"]) and "m" not in set(c.models(GMAI)["model"])


def test_judged_result_file_travels_with_its_predictions(server, sample_files, tmp_path):
    """`medviz predictions import ... --result X_result.xlsx` through the server keeps VLMEvalKit's hit/log."""
    import pandas as pd
    preds = sample_files["gmai_preds"]["random-baseline (seed 0)"]
    judged = tmp_path / "judged_GMAI-MMBench_SAMPLE_openai_result.xlsx"
    pd.read_excel(preds).assign(hit=1, log="judge said yes").to_excel(judged, index=False)
    r = cli("predictions", "import", GMAI, preds, "--model", "judged", "--result", str(judged), db=server.db)
    assert r.returncode == 0 and "judged: 10 predictions" in r.stdout, r.stderr
    job = [j for j in Client(server.url).jobs().to_dict("records") if j["kind"] == "predictions"][0]
    assert "result_path" not in job["params"] and job["params"]["result_filename"] == judged.name
    r = cli("predictions", "import", GMAI, preds, "--model", "judged2", "--result", str(tmp_path / "nope.xlsx"),
            db=server.db, check=False)
    assert r.returncode != 0 and "nope.xlsx" in r.stderr and "Traceback" not in r.stderr
    server.stop()
    from medviz.store import Store
    with Store(server.db, read_only=True) as s:
        rows = s.cursor().execute("SELECT DISTINCT hit, log FROM predictions WHERE model = 'judged'").fetchall()
    assert rows == [(1, "judge said yes")]


def test_upload_over_the_limit_is_refused_before_parsing(server_db, tmp_path):
    big = tmp_path / "big.csv"
    big.write_bytes(b"item_id,model,prediction\n" + b"x,m,A\n" * 300_000)      # ~1.8 MB
    with Server(server_db, extra_args=("--max-upload-mb", "1")) as s:
        with open(big, "rb") as f:
            r = requests.post(s.api + f"/benchmarks/{MC}/predictions", files={"file": ("big.csv", f)},
                              headers={"X-Medviz-User": "Pipeline"}, timeout=30)
        assert r.status_code == 413 and r.json()["field"] == "file"
        assert Client(s.url).jobs().empty


def test_cancel_and_job_survives_reload(server, sample_files):
    c = Client(server.url, user="Pipeline")
    job = c.embed(MC, "pixels", wait=False)
    seen = c.job(job["job_id"])                 # a second client (a reloaded browser) sees the same job
    assert seen["job_id"] == job["job_id"] and seen["kind"] == "embed"
    done = c.wait(job["job_id"])
    assert done["state"] == "done"
    after = c.cancel(job["job_id"])             # cancelling a finished job changes nothing
    assert after["state"] == "done"


def test_the_app_uses_the_servers_own_store_object(server_db, monkeypatch):
    from medviz import server as srv
    from medviz.ui import data
    monkeypatch.setenv("MEDVIZ_DB", server_db)
    state = srv.open_state(srv.ServerState(db_path=server_db))
    try:
        assert data.store() is state.store is srv.served_store(server_db)
        assert srv.running_server(server_db) == state.url
    finally:
        srv.close_state(state)
    assert srv.served_store(server_db) is None and srv.running_server(server_db) is None


def test_an_api_path_with_an_encoded_line_break_gets_the_apis_json_404(server):
    # found by schemathesis: Starlette's mount pattern stopped at "\n", so Streamlit answered in plain text
    for method, path in (("GET", "/benchmarks/a%0Ab"), ("POST", "/benchmarks/a%0Ab%E2%80%A8c/predictions"),
                         ("GET", "/no%0Asuch")):
        r = requests.request(method, server.api + path, headers={"X-Medviz-User": "t"})
        assert 400 <= r.status_code < 500 and r.headers["content-type"].startswith("application/json"), (path, r.text)
