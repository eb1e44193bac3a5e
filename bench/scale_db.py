"""medviz at real benchmark size: the database-side budgets of issue 6, each next to a naive baseline.

Builds (or reuses) ``bench/out/scale/scale.duckdb`` from the files ``bench/make_scale.py`` writes, through the
normal importers only (``ingest_benchmark``, ``import_predictions``, ``import_annotations``): 100,000 items
(half in pairs), 10 models = 1,000,000 predictions, 200,000 annotations by 20 reviewers. Then measures:

- Errors-page query: filter + count + one page of 48 rows, p95 over 200 random filters
  (baseline: the same filter done in pandas on the scoring frame loaded once);
- failure-mode statistics (tags x modality x model with Wilson intervals), p95 over 20 runs;
- agreement (Cohen per reviewer pair, per-tag alpha) over 200k annotations;
- scoring 1M stored predictions (both scorers' metrics from the store);
- database size: bytes per prediction and per annotation.

    python bench/scale_db.py [--items 100000] [--models 10] [--annotations 200000] [--rebuild]
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from bench.make_scale import (CATEGORIES, DEPARTMENTS, MODALITIES, write_annotations,  # noqa: E402
                              write_benchmark)
from medviz.auth import file_owner  # noqa: E402
from medviz.store import Store  # noqa: E402

BENCH = "synthetic-scale"


def p95(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]


def db_bytes(path: str) -> int:
    return sum(os.path.getsize(p) for p in (path, path + ".wal") if os.path.exists(p))


def build(out: str, items: int, models: int, annotations: int, reviewers: int) -> dict:
    from medviz.export import import_annotations
    from medviz.ingest import import_predictions, ingest_benchmark
    os.makedirs(out, exist_ok=True)
    info = write_benchmark(out, items, models)
    ann_path = write_annotations(out, info, annotations, reviewers)
    db = os.path.join(out, "scale.duckdb")
    for p in (db, db + ".wal"):
        if os.path.exists(p):
            os.remove(p)
    shutil.rmtree(os.path.join(out, "scale_files"), ignore_errors=True)
    sizes, times = {}, {}
    with Store(db) as s:
        t = time.perf_counter()
        ingest_benchmark(s, info["benchmark"], kind="generic", benchmark_id=BENCH, synthetic=True,
                         note="SYNTHETIC scale benchmark (bench/make_scale.py)")
        times["ingest_items"] = time.perf_counter() - t
        s.cursor().execute("CHECKPOINT")
        sizes["items"] = db_bytes(db)
        t = time.perf_counter()
        import_predictions(s, BENCH, info["predictions"], synthetic=True, note="SYNTHETIC scale predictions")
        times["import_predictions"] = time.perf_counter() - t
        s.cursor().execute("CHECKPOINT")
        sizes["predictions"] = db_bytes(db)
        t = time.perf_counter()
        n_ann = import_annotations(s, ann_path, by=file_owner())
        times["import_annotations"] = time.perf_counter() - t
        s.cursor().execute("CHECKPOINT")
        sizes["annotations"] = db_bytes(db)
    return {"db": db, "sizes": sizes, "times": times, "n_predictions": items * models, "n_annotations": n_ann}


def stats_pandas(store, benchmark_id: str):
    """Baseline: the same failure-mode table computed in pandas from the consensus rows and target context."""
    from medviz.annotations import consensus
    from medviz.store import annotations as sqla
    c = consensus(store, benchmark_id)
    ctx = sqla.target_context(store.cursor(), benchmark_id)
    c = c.merge(ctx, on=["benchmark_id", "target_type", "target_id"], how="left")
    c["modality"] = c["modality"].fillna("(none)")
    n = c.groupby(["modality", "model_key"]).size()
    long = c[["modality", "model_key", "tags"]].explode("tags").dropna(subset=["tags"])
    return long.groupby(["modality", "model_key", "tags"]).size(), n


def save_latency(store, n: int = 40) -> list[float]:
    """Sequential saves by one reviewer on the big store (each returns after its commit)."""
    from medviz.annotations import Annotation, close_writer, get_writer
    w = get_writer(store)
    owner = file_owner()          # the bench runs on the file: an admin saving under the synthetic name
    lat = []
    for i in range(n):
        a = Annotation(benchmark_id=BENCH, target_type="item", target_id=f"i{i * 13:07d}", tags=["Refusal"],
                       reviewer="bench-reviewer (synthetic)", model="synthetic-scale-model-01", confidence=3,
                       rationale="SYNTHETIC latency probe")
        t = time.perf_counter()
        w.save(a, owner)
        lat.append(time.perf_counter() - t)
    close_writer(store)
    return lat


def random_filter(rng: random.Random) -> dict:
    f = {}
    if rng.random() < 0.6:
        f["modalities"] = rng.sample(MODALITIES, rng.randint(1, 3))
    if rng.random() < 0.4:
        f["categories"] = rng.sample(CATEGORIES, rng.randint(1, 2))
    if rng.random() < 0.4:
        f["departments"] = rng.sample(DEPARTMENTS, rng.randint(1, 2))
    f["outcome"] = rng.choice([None, "error", "wrong", "confused", "invalid", "correct"])
    return f


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "out", "scale"))
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--models", type=int, default=10)
    ap.add_argument("--annotations", type=int, default=200_000)
    ap.add_argument("--reviewers", type=int, default=20)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--rebuild", action="store_true")
    args = ap.parse_args()
    db = os.path.join(args.out, "scale.duckdb")
    built = None
    if args.rebuild or not os.path.exists(db):
        built = build(args.out, args.items, args.models, args.annotations, args.reviewers)
    from medviz import evaluate
    from medviz.annotations import agreement, failure_mode_stats
    from medviz.store import core, views

    rows = []
    with Store(db) as s:
        cur = s.cursor()
        models = list(core.models(cur, BENCH)["model"])
        n_pred = cur.execute("SELECT count(*) FROM predictions WHERE benchmark_id = ?", [BENCH]).fetchone()[0]

        # Errors page
        rng = random.Random(0)
        filters = [random_filter(rng) for _ in range(args.queries)]
        views.error_counts(cur, BENCH, models, filters[0])          # warm-up
        lat = []
        for f in filters:
            t = time.perf_counter()
            views.error_counts(cur, BENCH, models, f)
            views.error_rows(cur, BENCH, models, f, limit=48, offset=0)
            lat.append(time.perf_counter() - t)
        # baseline: pandas on the scoring frame loaded once (what a notebook would do), 20 filters
        frame = core.scoring_frame(cur, BENCH, categories=True)
        base = []
        for f in filters[:20]:
            t = time.perf_counter()
            df = frame
            if f.get("modalities"):
                df = df[df["modality"].isin(f["modalities"])]
            if f.get("departments"):
                df = df[df["department"].isin(f["departments"])]
            if f.get("categories"):
                df = df[df["categories"].map(lambda c: bool(set(c) & set(f["categories"])))]
            wrong = df["parsed"].ne(df["answer"])
            _ = (len(df), int(wrong.sum()), df.sort_values(["item_id", "model"]).head(48))
            base.append(time.perf_counter() - t)
        rows.append(("errors_query_p95", p95(lat) * 1000, "ms", "< 100", p95(base) * 1000))

        # failure-mode statistics
        lat = []
        for _ in range(20):
            t = time.perf_counter()
            failure_mode_stats(s, BENCH, by=("modality", "model"))
            lat.append(time.perf_counter() - t)
        base = []
        for _ in range(3):
            t = time.perf_counter()
            stats_pandas(s, BENCH)
            base.append(time.perf_counter() - t)
        rows.append(("failure_mode_stats_p95", p95(lat) * 1000, "ms", "< 200", p95(base) * 1000))

        # agreement: the figures alone (as before intervals existed), then with 1000 bootstrap resamples
        t = time.perf_counter()
        agreement(s, BENCH, draws=0)
        point = time.perf_counter() - t
        rows.append(("agreement_200k", point, "s", "< 2", None))
        t = time.perf_counter()
        ag = agreement(s, BENCH)
        rows.append(("agreement_bootstrap_200k", time.perf_counter() - t, "s", "< 15", point))

        # scoring from the store
        t = time.perf_counter()
        evaluate.score_store(s, BENCH)
        rows.append(("score_store_1m", time.perf_counter() - t, "s", "< 5", None))
        lat = save_latency(s)
        rows.append(("annotate_save_p95_at_scale", p95(lat) * 1000, "ms", "< 500", None))
        n_ann = cur.execute("SELECT count(*) FROM annotation_revisions").fetchone()[0] \
            if cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'annotation_revisions'"
                           ).fetchone()[0] else None

    print(f"scale database: {db} ({db_bytes(db) / 2**20:.0f} MB), {n_pred:,} predictions, "
          f"{n_ann if n_ann is not None else '?'} annotation revisions")
    if built:
        print("build times (s): " + ", ".join(f"{k} {v:.1f}" for k, v in built["times"].items()))
    print(f"{'figure':<28}{'medviz':>12}{'baseline':>12}  unit  budget")
    for name, v, unit, budget, b in rows:
        print(f"{name:<28}{v:>12.1f}{(f'{b:.1f}' if b is not None else '-'):>12}  {unit:<4}  {budget}")
    for name, v, unit, budget, _ in rows:
        print(f"RESULT {name} {v:.1f} {unit} (budget {budget})")
    if built:
        sz = built["sizes"]
        print(f"RESULT db_bytes_per_prediction {(sz['predictions'] - sz['items']) / built['n_predictions']:.1f} "
              "bytes (budget report)")
        print(f"RESULT db_bytes_per_annotation {(sz['annotations'] - sz['predictions']) / max(1, built['n_annotations']):.1f} "
              "bytes (budget report)")
    _ = ag


if __name__ == "__main__":
    main()
