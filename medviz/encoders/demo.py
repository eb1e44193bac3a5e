"""Demo hook: embed the sample benchmarks with the weight-free ``pixels`` encoder (fast, offline)."""
from __future__ import annotations


def demo_hook(store) -> None:
    """Embed every sample benchmark with the weight-free pixels encoder (fast, offline)."""
    from ..store import core
    from . import compute_embeddings
    for bench_id in core.benchmarks(store.cursor())["benchmark_id"]:
        compute_embeddings(store, bench_id, "pixels")
