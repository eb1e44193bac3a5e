"""Annotation saves: throughput and latency of the group-commit writer vs one transaction per save.

Both runs use the same writer code on their own fresh database file, with N threads (clinicians' sessions)
saving concurrently; each save returns only after its commit. The baseline sets ``max_batch=1``: every
save is its own transaction (what a naive "BEGIN; INSERT; COMMIT" per request does). Mix per thread:
one new annotation then four edits of it (edits read the current revision and check ownership).

    python bench/annotate.py [--threads 20] [--saves 200]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from medviz import auth  # noqa: E402
from medviz.annotations import Annotation  # noqa: E402
from medviz.annotations.writer import AnnotationWriter  # noqa: E402
from medviz.store import Store  # noqa: E402
from medviz.store import annotations as sql  # noqa: E402


def run(path: str, threads: int, saves: int, max_batch: int) -> dict:
    store = Store(path)
    w = AnnotationWriter(store, max_batch=max_batch)
    lat: list[list[float]] = [[] for _ in range(threads)]
    errors: list[Exception] = []

    def work(t):
        a, me = None, auth.local(f"reviewer {t}")
        try:
            for j in range(saves):
                t0 = time.perf_counter()
                if j % 5 == 0:
                    a = w.save(Annotation("bench", "pair", f"p{t}-{j}", ["Visual confusion/Image ignored"],
                                          f"reviewer {t}", model="m", rationale="bench, synthetic", confidence=3),
                               me)
                else:
                    a = w.save(a.edit(confidence=1 + j % 5), me)
                lat[t].append(time.perf_counter() - t0)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    ths = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    t0 = time.perf_counter()
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    wall = time.perf_counter() - t0
    w.close()
    counts = sql.revision_counts(store.cursor())
    store.close()
    if errors:
        raise errors[0]
    all_lat = sorted(x for xs in lat for x in xs)
    n = len(all_lat)
    assert counts["revisions"] == counts["distinct_revisions"] == n == threads * saves, counts
    q = statistics.quantiles(all_lat, n=100)
    return {"saves": n, "seconds": wall, "per_s": n / wall, "p50_ms": 1000 * q[49], "p95_ms": 1000 * q[94],
            "max_ms": 1000 * all_lat[-1], "batches": w.stats["batches"], "per_batch": n / max(w.stats["batches"], 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=20)
    ap.add_argument("--saves", type=int, default=200, help="saves per thread")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        naive = run(os.path.join(d, "naive.duckdb"), args.threads, args.saves, max_batch=1)
        group = run(os.path.join(d, "group.duckdb"), args.threads, args.saves, max_batch=1000)
        single = run(os.path.join(d, "single.duckdb"), 1, args.saves, max_batch=1000)
    print(f"{args.threads} threads x {args.saves} saves (1 new + 4 edits per annotation), each acknowledged "
          f"after commit; os.cpu_count()={os.cpu_count()}")
    print(f"{'writer':<30}{'saves':>7}{'s':>8}{'saves/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}"
          f"{'commits':>9}{'saves/commit':>14}")
    for name, r in (("one transaction per save", naive), ("group commit (this writer)", group),
                    ("group commit, 1 thread", single)):
        print(f"{name:<30}{r['saves']:>7}{r['seconds']:>8.2f}{r['per_s']:>10.0f}{r['p50_ms']:>9.2f}"
              f"{r['p95_ms']:>9.2f}{r['max_ms']:>9.1f}{r['batches']:>9}{r['per_batch']:>14.1f}")
    print(f"RESULT annotate_saves_per_s {group['per_s']:.0f} saves/s (budget >= 500)")
    print(f"RESULT annotate_save_p50 {group['p50_ms']:.1f} ms (budget < 50)")
    print(f"RESULT annotate_save_p95 {group['p95_ms']:.1f} ms (budget < 200)")
    print(f"RESULT annotate_single_reviewer_save_p50 {single['p50_ms']:.1f} ms (budget < 50)")
    print(f"RESULT annotate_naive_saves_per_s {naive['per_s']:.0f} saves/s (budget >= 0)")
    print(f"RESULT annotate_group_commit_speedup {group['per_s'] / naive['per_s']:.1f} ratio (budget >= 1)")


if __name__ == "__main__":
    main()
