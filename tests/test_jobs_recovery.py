"""What a restarted server does with the jobs a stopped one left: running ones are marked failed ("server
stopped"; their work was one transaction, so nothing of them is applied), queued ones run now, in order,
unless their uploaded input is gone. (tests/server/test_crash.py kills a real server during a job.)"""
from __future__ import annotations

from medviz.jobs import SERVER_STOPPED, JobRunner, execute_write
from medviz.store import core
from medviz.store import jobs as sql


def test_running_jobs_fail_and_queued_ones_resume(store, sample_files, tmp_path):
    gone = tmp_path / "uploads" / "abc" / "gone.csv"        # an upload whose folder was removed meanwhile
    left = [("j-running", "ingest", {"path": sample_files["generic_csv"], "kind": "generic",
                                     "benchmark_id": "half-done"}),
            ("j-queued", "ingest", {"path": sample_files["generic_csv"], "kind": "generic",
                                    "benchmark_id": "after-restart"}),
            ("j-gone", "ingest", {"path": str(gone), "uploaded": True, "kind": "generic", "benchmark_id": "x"})]
    for job_id, kind, params in left:             # what a stopped server leaves in the jobs table
        execute_write(store, lambda tx, a=(job_id, kind, params): sql.insert_job(tx, *a, "Pipeline"))
    execute_write(store, lambda tx: sql.mark_running(tx, "j-running"))

    runner = JobRunner(store, workers=1)
    try:
        assert (runner.recovered, runner.resumed) == (1, 1)
        j = runner.get("j-running")
        assert j["state"] == "failed" and j["error"] == SERVER_STOPPED
        j = runner.wait("j-queued", timeout=120)
        assert j["state"] == "done" and j["result"]["items"] == 8, j
        assert any("resumed" in line for line in j["log"])
        j = runner.get("j-gone")
        assert j["state"] == "failed" and "input file is gone" in j["error"]
    finally:
        runner.close()
    benchmarks = set(core.benchmarks(store.cursor())["benchmark_id"])
    assert "after-restart" in benchmarks and "half-done" not in benchmarks and "x" not in benchmarks
