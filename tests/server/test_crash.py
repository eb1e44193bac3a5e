"""kill -9 of the server during a job and during saves, then a restart: the store opens, the job is marked
failed ("server stopped") and left nothing half-applied, and every acknowledged save is there."""
from __future__ import annotations

import threading
import time

import pandas as pd

from medviz.client import Client, ClientError

from .harness import Server

MC = "sample-mediconfusion"
TAG = "Perceptual error/Detail missed"


def _big_generic(path, n: int) -> str:
    """A SYNTHETIC generic benchmark large enough that ingesting it takes a few seconds."""
    pd.DataFrame({"item_id": [f"syn-{i}" for i in range(n)], "question": ["Synthetic question?"] * n,
                  "A": ["yes"] * n, "B": ["no"] * n, "answer": ["A"] * n,
                  "modality": ["CT"] * n}).to_csv(path, index=False)
    return str(path)


def _start_big_ingest(c: Client, path: str, benchmark_id: str) -> dict:
    """Queue the ingest of ``path`` and return once the job is running."""
    job = c.ingest(path, upload=False, kind="generic", benchmark_id=benchmark_id, wait=False)
    deadline = time.time() + 60
    while c.job(job["job_id"])["state"] != "running" and time.time() < deadline:
        time.sleep(0.05)
    assert c.job(job["job_id"])["state"] == "running"
    return job


def test_kill9_during_a_job_marks_it_failed_and_leaves_nothing_half_applied(server_db, tmp_path):
    big = _big_generic(tmp_path / "synthetic-big.csv", 400_000)
    srv = Server(server_db).start()
    try:
        c = Client(srv.url, user="Pipeline")
        before = set(c.benchmarks()["benchmark_id"])
        job = _start_big_ingest(c, big, "synthetic-big")
        time.sleep(0.3)
        srv.kill9()
    finally:
        srv.stop()
    with Server(server_db) as srv2:
        c = Client(srv2.url)
        j = c.job(job["job_id"])
        assert j["state"] == "failed" and j["error"] == "server stopped"
        assert set(c.benchmarks()["benchmark_id"]) == before          # no half-ingested benchmark
        # the store works normally after recovery: the same job runs to the end
        done = Client(srv2.url, user="Pipeline").ingest(big, upload=False, kind="generic",
                                                        benchmark_id="synthetic-big")
        assert done["state"] == "done" and done["result"]["items"] == 400_000


def test_kill9_during_saves_keeps_every_acknowledged_save(server_db):
    srv = Server(server_db).start()
    unit_ids = [r["unit_id"] for r in Client(srv.url).errors(MC, outcome="all", page_size=50)["rows"]]
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def saver(i: int):
        c = Client(srv.url, user=f"Crash Reviewer {i}")
        k = 0
        while not stop.is_set():
            try:
                a = c.save_annotation(MC, "pair", unit_ids[(i + k) % len(unit_ids)], [TAG], rationale=f"{i}/{k}")
            except ClientError:
                return                          # the server died: this save was not acknowledged
            with lock:
                acked.append(a["annotation_id"])
            k += 1

    threads = [threading.Thread(target=saver, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    deadline = time.time() + 60
    while len(acked) < 150 and time.time() < deadline:
        time.sleep(0.02)
    srv.kill9()
    stop.set()
    for t in threads:
        t.join(30)
    assert len(acked) >= 150
    with Server(server_db) as srv2:
        current = Client(srv2.url).annotations(MC)
        have = set(current["annotation_id"])
        assert set(acked) <= have
        crash = current[current["reviewer"].str.startswith("Crash Reviewer")]
        assert crash["annotation_id"].is_unique and set(crash["revision"]) == {1}


def test_cancel_a_running_ingest_keeps_nothing_of_it(server, tmp_path):
    big = _big_generic(tmp_path / "synthetic-cancel.csv", 400_000)
    c = Client(server.url, user="Pipeline")
    before = set(c.benchmarks()["benchmark_id"])
    job = _start_big_ingest(c, big, "synthetic-cancel")
    assert c.cancel(job["job_id"])["state"] in ("running", "cancelled")
    done = c.wait(job["job_id"], timeout=120)
    assert done["state"] == "cancelled" and any("cancel" in line for line in done["log"])
    assert set(c.benchmarks()["benchmark_id"]) == before
