"""A pair's cached vectors at scale: the lookup the Review page's encoder panel runs for every pair
(``encoders.explain_pair`` -> ``store.embeddings.vectors_for_hashes``), before and after the ART index on
``image_sha256`` (embeddings migration v3).

Data (SYNTHETIC): N items with one distinct image content each (made-up sha256s, no image files) and one random
``--dim`` (512, like BiomedCLIP) vector per content under a synthetic encoder, written through medviz's own
store code (``Store``, ``insert_embeddings``). Each round times, on the same file, in one process:

- after: ``vectors_for_hashes`` as medviz runs it now (``image_sha256 IN (?, ?)`` as the query's only filter,
  an index scan; encoder, weights and decode mode checked on the few rows it returns);
- before: the previous query (``list_contains(?, image_sha256)``) on the previous schema (the 3-column index
  ``embeddings_key``, no single-column one), made by dropping / creating the indexes in the same file;
- ``best_key``, the (weights, decode mode) choice ``explain_pair`` makes once per pair: before, a join of the
  benchmark's items with every vector counted per key (``OLD_BEST``); after, the encoder's keys (one here).

Every lookup of both sides must return the same vectors. Medians over ``--pairs`` random pairs per round.

    python bench/embed_lookup.py                 # N = 100,000, 3 rounds of 200 pairs
    python bench/embed_lookup.py --n 10000 --rounds 2
"""
from __future__ import annotations

import os
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

BENCH, ENCODER, DIGEST, DECODE = "synthetic-lookup-bench", "synthetic-encoder", "synthetic-weights", "exact"
BUDGET_MS = 2.0          # one pair's vectors at 100k rows

OLD_QUERY = ("SELECT image_sha256, vec FROM embeddings WHERE encoder_id = ? AND weights_digest = ? "
             "AND list_contains(?, image_sha256)")       # the lookup before this change (no decode column)
OLD_BEST = ("SELECT e.weights_digest, count(*) AS n, max(e.computed_at) AS t FROM embeddings e JOIN items i "
            "ON i.image_sha256 = e.image_sha256 WHERE i.benchmark_id = ? AND e.encoder_id = ? "
            "GROUP BY e.weights_digest ORDER BY n DESC, t DESC LIMIT 1")   # best_digest before this change


def build(path: str, n: int, dim: int) -> list[str]:
    from medviz.item import Item
    from medviz.store import Store, core
    from medviz.store import embeddings as esql
    hashes = [f"{i:064x}" for i in np.random.default_rng(1).permutation(n)]     # insertion order != hash order
    rng = np.random.default_rng(0)
    with Store(path) as store:
        with store.transaction() as tx:
            core.insert_benchmark(tx, BENCH, "generic", "bench/embed_lookup.py (SYNTHETIC)", None, synthetic=True)
            for s in range(0, n, 20_000):
                items = [Item(item_id=f"i{i:06d}", question="q", options={"A": "a", "B": "b"}, answer="A",
                              image_path=f"img/{i}.png", image_status="ok", image_sha256=hashes[i])
                         for i in range(s, min(n, s + 20_000))]
                core.append_items(tx, core.items_to_arrow(BENCH, items))
            core.finish_benchmark(tx, BENCH)
        for s in range(0, n, 10_000):
            v = rng.standard_normal((len(hashes[s:s + 10_000]), dim)).astype(np.float32)
            with store.transaction() as tx:
                esql.insert_embeddings(tx, ENCODER, DIGEST, hashes[s:s + 10_000], v, decode=DECODE)
    return hashes


def _time(fn, pairs) -> tuple[list[float], list]:
    out, ts = [], []
    fn(pairs[0])                                       # warm (first query plans and loads the index)
    for p in pairs:
        t = time.perf_counter()
        out.append(fn(p))
        ts.append((time.perf_counter() - t) * 1e3)
    return ts, out


def main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pairs", type=int, default=200)
    args = ap.parse_args(argv)
    from medviz.store import Store
    from medviz.store import embeddings as esql
    work = tempfile.mkdtemp(prefix="medviz-lookup-")
    path = os.path.join(work, "lookup.duckdb")
    t = time.perf_counter()
    hashes = build(path, args.n, args.dim)
    print(f"bench/embed_lookup.py: SYNTHETIC {args.n:,} items / vectors ({args.dim}-d), {args.rounds} rounds of "
          f"{args.pairs} pairs; store built in {time.perf_counter() - t:.1f} s; load average "
          f"{os.getloadavg()[0]:.1f}")
    med = lambda xs: float(np.median(xs))      # noqa: E731
    rows = {"before": [], "after": [], "best_key": [], "best_before": []}
    rng = np.random.default_rng(2)
    with Store(path) as store:
        cur = store.cursor()
        for r in range(args.rounds):
            pairs = [tuple(hashes[i] for i in rng.choice(len(hashes), 2, replace=False)) for _ in range(args.pairs)]
            # after: the schema and query medviz uses now
            after, got_after = _time(lambda p: esql.vectors_for_hashes(cur, ENCODER, DIGEST, list(p), decode=DECODE),
                                     pairs)
            best, keys = _time(lambda p: esql.best_key(cur, BENCH, ENCODER), pairs[:20])
            assert set(keys) == {(DIGEST, DECODE)}, keys
            best_before, old_keys = _time(lambda p: cur.execute(OLD_BEST, [BENCH, ENCODER]).fetchall()[0][0],
                                          pairs[:20])
            assert set(old_keys) == {DIGEST}, old_keys
            # before: the previous index and query, on the same file
            cur.execute("DROP INDEX embeddings_sha")
            cur.execute("CREATE INDEX embeddings_key ON embeddings(encoder_id, weights_digest, image_sha256)")

            def old(p):
                rows_ = cur.execute(OLD_QUERY, [ENCODER, DIGEST, list(p)]).fetchall()
                return {h: np.asarray(v, dtype=np.float32) for h, v in rows_}
            before, got_before = _time(old, pairs)
            cur.execute("DROP INDEX embeddings_key")
            cur.execute("CREATE INDEX embeddings_sha ON embeddings(image_sha256)")
            for a, b in zip(got_after, got_before):
                if sorted(a) != sorted(b) or any(not np.array_equal(a[h], b[h]) for h in a):
                    raise SystemExit("the indexed lookup returned other vectors than the previous one")
            rows["before"].append(med(before))
            rows["after"].append(med(after))
            rows["best_key"].append(med(best))
            rows["best_before"].append(med(best_before))
            print(f"  round {r + 1}: lookup before {med(before):.2f} ms, after {med(after):.2f} ms; "
                  f"key choice before {med(best_before):.2f} ms, after {med(best):.2f} ms")
    os.remove(path)

    def row(what, xs):
        print(f"| {what} | {med(xs):.2f} ms | {', '.join(f'{x:.2f}' for x in xs)} |")
    print(f"\n| per pair on the Review page, N = {args.n:,} | median | per round |")
    print("|---|---|---|")
    row("before: list_contains, 3-column index (baseline)", rows["before"])
    row("after: image_sha256 IN (?, ?) alone (ART index), key columns checked on the rows", rows["after"])
    row("key choice before: items × vectors join (baseline)", rows["best_before"])
    row("key choice after: best_key, the encoder's keys", rows["best_key"])
    b, a = med(rows["before"]), med(rows["after"])
    print(f"\nload average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"RESULT embed_pair_lookup_ms {a:.2f} ms (budget < {BUDGET_MS})")
    print(f"RESULT embed_pair_lookup_before_ms {b:.2f} ms (baseline, same run; no budget)")
    print(f"RESULT embed_pair_lookup_speedup {b / a:.1f} x (budget >= 5)")
    kb, ka = med(rows["best_before"]), med(rows["best_key"])
    print(f"RESULT embed_pair_key_choice_ms {ka:.2f} ms (before {kb:.2f} ms in the same run, {kb / ka:.1f} x; "
          f"budget < 5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
