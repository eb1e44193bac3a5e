"""`medviz serve` under load: annotation saves over HTTP while jobs run, vs the same saves in-process.

A real server (its own process, 127.0.0.1, a copy of the sample database) takes C concurrent API clients x S
annotation saves each, while one prediction-import job and one embedding job run (issue 10's workload). The
baseline in the same run: the same C x S saves from C threads straight into the store's writer (no HTTP, no
jobs), on another copy of the database. Every acknowledged save is checked to be in the store exactly once.

    python bench/serve.py [--clients 20] [--saves 50]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.server.harness import Server, copy_store  # noqa: E402
from tests.server.load import TAGS, save_storm  # noqa: E402

MC = "sample-mediconfusion"


def build_sample(out: str) -> tuple[str, dict]:
    """The demo database (``medviz demo``) and the paths of its sample files."""
    import subprocess
    from medviz.demo import build_files
    db = os.path.join(out, "sample.duckdb")
    subprocess.run([sys.executable, "-m", "medviz.cli", "demo", "--db", db, "--out", os.path.join(out, "files")],
                   check=True, cwd=ROOT, capture_output=True, env=dict(os.environ, PYTHONPATH=ROOT))
    return db, build_files(os.path.join(out, "files"))


def in_process(db: str, targets, clients: int, saves: int) -> dict:
    """The baseline: the same saves from threads straight into the writer (no HTTP)."""
    from medviz import auth
    from medviz.annotations import Annotation, get_writer
    from medviz.annotations.writer import close_writer
    from medviz.store import Store
    store = Store(db)
    w = get_writer(store)
    lat: list[list[float]] = [[] for _ in range(clients)]
    start = threading.Barrier(clients + 1)

    def work(i):
        me = auth.local(f"Load Reviewer {i:02d}")
        start.wait()
        for k in range(saves):
            tt, tid = targets[(i * saves + k) % len(targets)]
            t0 = time.perf_counter()
            w.save(Annotation(MC, tt, tid, [TAGS[k % len(TAGS)]], None, rationale=f"c{i} s{k}",
                              confidence=1 + k % 5), me)
            lat[i].append(time.perf_counter() - t0)
    ts = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for t in ts:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in ts:
        t.join()
    wall = time.perf_counter() - t0
    close_writer(store)
    store.close()
    flat = np.array([x for xs in lat for x in xs]) * 1000
    return {"p50_ms": float(np.percentile(flat, 50)), "p95_ms": float(np.percentile(flat, 95)),
            "saves_per_s": len(flat) / wall}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--saves", type=int, default=50)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="medviz-bench-serve-")
    try:
        src, files = build_sample(tmp)
        served = copy_store(src, os.path.join(tmp, "served.duckdb"))
        local = copy_store(src, os.path.join(tmp, "local.duckdb"))
        from medviz.client import Client
        with Server(served) as srv:
            c = Client(srv.url, user="Bench pipeline")
            targets = sorted({("pair", r["unit_id"]) for r in c.errors(MC, outcome="all", page_size=500)["rows"]})
            # sequential: one client, no load
            seq = []
            for k in range(50):
                t0 = time.perf_counter()
                c.save_annotation(MC, *targets[k % len(targets)], [TAGS[0]], rationale=f"seq {k}")
                seq.append((time.perf_counter() - t0) * 1000)

            def jobs():
                imp = c.import_predictions(MC, files["mc_results"]["random-baseline (seed 0)"], model="bench-load",
                                           wait=False)
                emb = c.embed(MC, "pixels", wait=False)
                return [imp["job_id"], emb["job_id"]]
            res = save_storm(srv.url, MC, targets, clients=args.clients, saves=args.saves, jobs=jobs)
            cur = c.annotations(MC)
            load = cur[cur["reviewer"].str.startswith("Load Reviewer")]
            n = args.clients * args.saves
            assert not res["errors"], res["errors"][:3]
            assert len(res["acked"]) == n and sorted(load["annotation_id"]) == sorted(res["acked"]), \
                "an acknowledged save is missing or duplicated"
            assert all(j["state"] == "done" for j in res["jobs"]), [j["error"] for j in res["jobs"]]
        base = in_process(local, targets, args.clients, args.saves)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\n{args.clients} clients x {args.saves} annotation saves (load: cores={os.cpu_count()}, "
          f"loadavg={os.getloadavg()[0]:.2f})")
    print(f"{'run':<48}{'p50 ms':>9}{'p95 ms':>9}{'saves/s':>10}")
    print(f"{'HTTP, one client, no load':<48}{np.percentile(seq, 50):>9.1f}{np.percentile(seq, 95):>9.1f}"
          f"{1000 / np.mean(seq):>10.0f}")
    print(f"{'HTTP, concurrent + import job + embed job':<48}{res['p50_ms']:>9.1f}{res['p95_ms']:>9.1f}"
          f"{res['saves_per_s']:>10.0f}")
    print(f"{'in-process writer, concurrent (baseline)':<48}{base['p50_ms']:>9.1f}{base['p95_ms']:>9.1f}"
          f"{base['saves_per_s']:>10.0f}")
    print(f"every acknowledged save present exactly once: {len(res['acked'])}/{args.clients * args.saves}; "
          "both jobs done")
    print(f"RESULT serve_save_p95 {res['p95_ms']:.1f} ms (budget < 500)")
    print(f"RESULT serve_save_p95_ratio {res['p95_ms'] / base['p95_ms']:.2f} x (budget <= 20)")
    print(f"RESULT serve_single_save_p50 {np.percentile(seq, 50):.1f} ms (budget < 50)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
