"""The concurrent workload of issue 10 (shared by tests/server/test_concurrency.py and bench/serve.py):
N API clients each saving M annotations while one prediction-import job and one embedding job run."""
from __future__ import annotations

import threading
import time

import numpy as np

from medviz.client import Client

TAGS = ["Perceptual error/Detail missed", "Knowledge deficiency/Lack of knowledge", "Question misunderstanding"]


def save_storm(url: str, benchmark_id: str, targets: list[tuple[str, str]], *, clients: int = 20, saves: int = 50,
               token_for=None, jobs=None) -> dict:
    """Run the storm; returns acknowledged annotation ids, latencies (s), errors and the jobs' results.

    ``token_for(i)`` gives client i's token (None: local mode, name in X-Medviz-User); ``jobs()`` is
    called once the clients have started and returns the job ids to wait for."""
    acked: list[list[str]] = [[] for _ in range(clients)]
    lat: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    start = threading.Barrier(clients + 1)

    def client(i: int):
        c = Client(url, token_for(i) if token_for else None, user=None if token_for else f"Load Reviewer {i:02d}")
        start.wait()
        for k in range(saves):
            tt, tid = targets[(i * saves + k) % len(targets)]
            t0 = time.perf_counter()
            try:
                a = c.save_annotation(benchmark_id, tt, tid, [TAGS[k % len(TAGS)]], rationale=f"c{i} s{k}",
                                      confidence=1 + k % 5)
            except Exception as e:  # noqa: BLE001 - counted and reported by the caller
                errors.append(f"client {i} save {k}: {e}")
                continue
            lat[i].append(time.perf_counter() - t0)
            acked[i].append(a["annotation_id"])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    job_ids = jobs() if jobs else []
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    waiter = Client(url, token_for(0) if token_for else None)
    finished = [waiter.wait(j, timeout=300) for j in job_ids]
    flat = np.array([x for xs in lat for x in xs]) * 1000
    return {"acked": [x for xs in acked for x in xs], "errors": errors, "jobs": finished, "wall_s": wall,
            "latency_ms": flat,
            "p50_ms": float(np.percentile(flat, 50)) if len(flat) else float("nan"),
            "p95_ms": float(np.percentile(flat, 95)) if len(flat) else float("nan"),
            "saves_per_s": len(flat) / wall if wall > 0 else float("nan")}
