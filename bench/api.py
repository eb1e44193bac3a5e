"""medviz's own API against the plainest raw DuckDB doing the same logical step (issue 14).

One workload at N = 1,000 / 10,000 / 100,000 generated items of a generic benchmark (SYNTHETIC: generated
here, every name says so): one model's predictions, a modality on every item, one small unique PNG per item.
Each round runs the whole workload twice in fresh processes, once through medviz's public API (what the
app and the CLI call) and once as raw DuckDB + Python, alternating which goes first; each step's result
is compared between the two (the run fails if they differ). Steps:

| step | medviz | raw |
|---|---|---|
| start-up | ``import medviz.store`` + ``Store(db)`` | ``import duckdb`` + ``duckdb.connect(db)`` |
| ingest | ``ingest_benchmark`` + ``import_predictions`` | ``read_csv`` into tables, each image read + hashed once |
| save (p50 of 200) | ``get_writer(store).save(Annotation)`` | one-row autocommit ``INSERT`` |
| bulk tag 10% | ``get_writer(store).tag_targets(...)`` from one caller | one bulk ``INSERT`` from Arrow |
| Errors page | ``readmodels.errors.error_page`` (wrong ∧ CT, count + first page with tag columns) | one count + one page query |
| stats | ``failure_mode_stats(by=modality)`` | one SQL query (consensus + counts) |
| export | ``export_annotations(csv)`` | ``COPY (...) TO csv`` |
| peak RSS | the whole medviz process | the whole raw process |

Medians over rounds (>= 3); the table shows absolute medians per N and medviz ÷ raw; RESULT lines at the
largest N (100,000 unless ``--sizes``/``--quick``).

    python bench/api.py                      # N = 1k, 10k, 100k, 3 rounds
    python bench/api.py --quick              # N = 1k, 10k, 3 rounds (RESULT lines then at 10k: marked so)
    python bench/api.py --sizes 2000 --rounds 3
"""
from __future__ import annotations

import os
import sys
import time

_T0 = time.perf_counter()
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BENCH = "synthetic-api-bench"
MODEL = "synthetic-api-model"
MODALITIES = ["CT", "MR", "X-ray", "Ultrasound", "Fundus photography", "Endoscopy", "Dermoscopy", "Histopathology"]
TAGS = ["Perceptual error/Detail missed", "Knowledge deficiency/Lack of knowledge", "Visual confusion/Image ignored"]
PAGE = 48
SAVES = 200

BUDGETS = {  # step -> (RESULT name, budget)
    "startup": ("api_startup_ratio", 1.5), "ingest": ("api_ingest_ratio", 2.0), "save": ("api_save_ratio", 1.5),
    "bulk_tag": ("api_bulk_tag_ratio", 2.0), "errors_page": ("api_errors_page_ratio", 3.0),
    "stats": ("api_stats_ratio", 3.0), "export": ("api_export_ratio", 3.0), "rss": ("api_rss_ratio", 1.5),
}


# --- data (parent) -----------------------------------------------------------------------------------------

def _png(k: int) -> bytes:
    """A tiny valid 8x8 grey PNG whose pixels encode k (so every image hashes differently)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + bytes(((k >> (8 * (r % 4))) + r * 8 + c) & 0xFF for c in range(8)) for r in range(8))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def make_data(out: str, n: int) -> dict:
    import csv
    import random
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    rng = random.Random(n)
    bench, preds = os.path.join(out, "benchmark.csv"), os.path.join(out, "predictions.csv")
    if not os.path.exists(preds):
        with open(bench, "w", newline="", encoding="utf-8") as fb, \
                open(preds, "w", newline="", encoding="utf-8") as fp:
            wb, wp = csv.writer(fb), csv.writer(fp)
            wb.writerow(["item_id", "image_path", "question", "A", "B", "C", "D", "answer", "modality"])
            wp.writerow(["item_id", "model", "prediction"])
            for i in range(n):
                iid = f"i{i:07d}"
                rel = f"images/{i // 1000:03d}/{iid}.png"
                if i % 1000 == 0:
                    os.makedirs(os.path.join(out, os.path.dirname(rel)), exist_ok=True)
                with open(os.path.join(out, rel), "wb") as f:
                    f.write(_png(i))
                ans = rng.choice("ABCD")
                wb.writerow([iid, rel, f"Synthetic question {i}?", "lung", "liver", "heart", "kidney", ans,
                             MODALITIES[i % len(MODALITIES)]])
                r = rng.random()
                wp.writerow([iid, MODEL, "unsure" if r < 0.05 else (ans if r < 0.6 else rng.choice("ABCD"))])
    return {"benchmark": bench, "predictions": preds, "n": n}


# --- the two sides (child processes) ----------------------------------------------------------------------

def _targets(n: int):
    """Items the saves and the bulk tag touch (deterministic, spread over modalities)."""
    save_ids = [f"i{(k * 7919) % n:07d}" for k in range(min(SAVES, n))]
    bulk_ids = [f"i{i:07d}" for i in range(0, n, 10)]
    return save_ids, bulk_ids


def child_medviz(d: dict) -> dict:
    t = {}
    s0 = time.perf_counter()
    from medviz import auth
    from medviz.annotations import Annotation, failure_mode_stats, get_writer
    from medviz.export import export_annotations
    from medviz.ingest import import_predictions, ingest_benchmark
    from medviz.store import Store
    from medviz.readmodels import errors as views
    store = Store(d["db"])
    t["import_all"] = time.perf_counter() - s0
    s0 = time.perf_counter()
    ingest_benchmark(store, d["benchmark"], kind="generic", benchmark_id=BENCH, synthetic=True,
                     note="SYNTHETIC benchmark generated by bench/api.py")
    import_predictions(store, BENCH, d["predictions"], synthetic=True, note="SYNTHETIC predictions (bench/api.py)")
    t["ingest"] = time.perf_counter() - s0
    res = {"ingest": _ingest_digest(store.cursor())}
    save_ids, bulk_ids = _targets(d["n"])
    w = get_writer(store)
    who = [auth.local(f"synthetic-reviewer-{i}") for i in range(3)]      # signed in (local mode)
    lat = []
    for k, iid in enumerate(save_ids):
        s0 = time.perf_counter()
        w.save(Annotation(BENCH, "item", iid, [TAGS[k % 2]], f"synthetic-reviewer-{k % 3}", model=MODEL), who[k % 3])
        lat.append(time.perf_counter() - s0)
    t["save"] = sorted(lat)[len(lat) // 2]
    s0 = time.perf_counter()
    w.tag_targets(BENCH, "item", bulk_ids, [TAGS[2]], auth.local("synthetic-bulk-reviewer"), model=MODEL)
    t["bulk_tag"] = time.perf_counter() - s0
    res["annotations"] = store.cursor().execute("SELECT count(*) FROM annotation_revisions").fetchall()[0][0]
    s0 = time.perf_counter()
    rows, counts = views.error_page(store, BENCH, None, views.ErrorFilter(outcome="wrong", modalities=["CT"]), 0)
    t["errors_page"] = time.perf_counter() - s0
    res["errors_page"] = [counts["rows"], [(r.unit_id, sorted(r.tags)) for r in rows.itertuples()]]
    s0 = time.perf_counter()
    st = failure_mode_stats(store, BENCH, by=("modality",))
    t["stats"] = time.perf_counter() - s0
    res["stats"] = sorted((r.modality, r.tag, int(r.count), int(r.n)) for r in st.itertuples() if r.count > 0)
    s0 = time.perf_counter()
    export_annotations(store, d["csv"], fmt="csv", benchmark_id=BENCH)
    t["export"] = time.perf_counter() - s0
    res["export"] = _csv_digest(d["csv"])
    from medviz.annotations import close_writer
    close_writer(store)
    store.close()
    return {"t": t, "res": res}


def _ingest_digest(cur) -> list:
    # fetchall, not fetchone: an unfinished result keeps a read transaction open on the process's main cursor,
    # and every later commit (the measured saves) then pays for it (~1.3 -> ~4 ms per save)
    return list(cur.execute(
        "SELECT count(*), count(DISTINCT image_sha256), min(image_sha256), max(image_sha256), "
        "(SELECT count(*) FILTER (WHERE correct) FROM predictions) FROM items").fetchall()[0])


def _csv_digest(path: str) -> list:
    import csv
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    keys = ("target_id", "modality", "model", "raw_answer", "parsed_answer", "correct_answer", "tag", "reviewer")
    for r in rows:      # medviz's export splits the tag path into tag_group + tag (issue 13): compare full paths
        if "tag_group" in r:
            r["tag"] = r["tag_group"] + ("/" + r["tag"] if r["tag"] else "")
    return [len(rows), sorted(tuple(r[k] for k in keys) for r in rows)[:: max(1, len(rows) // 500)]]


RAW_SCHEMA = """
CREATE TABLE images (image_path VARCHAR, sha256 VARCHAR);
CREATE TABLE ann (annotation_id VARCHAR PRIMARY KEY, benchmark_id VARCHAR, target_type VARCHAR,
                  target_id VARCHAR, model VARCHAR, tags VARCHAR[], reviewer VARCHAR, confidence TINYINT,
                  rationale VARCHAR, created_at TIMESTAMP)
"""


def child_raw(d: dict) -> dict:
    t = {}
    s0 = time.perf_counter()
    import datetime
    import hashlib
    import uuid
    import duckdb
    import pyarrow as pa
    con = duckdb.connect(d["db"])
    t["import_all"] = time.perf_counter() - s0
    s0 = time.perf_counter()
    for stmt in RAW_SCHEMA.split(";"):
        con.execute(stmt)
    root = os.path.dirname(d["benchmark"])
    con.execute("CREATE TABLE items AS SELECT * FROM read_csv(?, all_varchar = true)", [d["benchmark"]])
    paths = [r[0] for r in con.execute("SELECT DISTINCT image_path FROM items").fetchall()]
    hashes = []
    for p in paths:
        with open(os.path.join(root, p), "rb") as f:
            hashes.append(hashlib.sha256(f.read()).hexdigest())
    con.register("_img", pa.table({"image_path": paths, "sha256": hashes}))
    con.execute("INSERT INTO images SELECT * FROM _img")
    con.unregister("_img")
    con.execute("CREATE TABLE predictions AS SELECT *, CASE WHEN length(prediction) = 1 THEN prediction END AS "
                "parsed FROM read_csv(?, all_varchar = true)", [d["predictions"]])
    t["ingest"] = time.perf_counter() - s0
    res = {"ingest": list(con.execute(
        "SELECT count(*), count(DISTINCT sha256), min(sha256), max(sha256), (SELECT count(*) FROM predictions p "
        "JOIN items i USING (item_id) WHERE p.parsed = i.answer) FROM items JOIN images USING (image_path)"
    ).fetchone())}
    save_ids, bulk_ids = _targets(d["n"])
    lat = []
    for k, iid in enumerate(save_ids):
        s0 = time.perf_counter()
        con.execute("INSERT INTO ann VALUES (?, ?, 'item', ?, ?, ?, ?, 3, '', ?)",
                    [uuid.uuid4().hex, BENCH, iid, MODEL, [TAGS[k % 2]], f"synthetic-reviewer-{k % 3}",
                     datetime.datetime.utcnow()])
        lat.append(time.perf_counter() - s0)
    t["save"] = sorted(lat)[len(lat) // 2]
    s0 = time.perf_counter()
    m = len(bulk_ids)
    now = datetime.datetime.utcnow()
    con.register("_bulk", pa.table({
        "annotation_id": [uuid.uuid4().hex for _ in range(m)], "benchmark_id": pa.repeat(BENCH, m),
        "target_type": pa.repeat("item", m), "target_id": bulk_ids, "model": pa.repeat(MODEL, m),
        "tags": pa.repeat(pa.scalar([TAGS[2]]), m), "reviewer": pa.repeat("synthetic-bulk-reviewer", m),
        "confidence": pa.repeat(pa.scalar(3, pa.int8()), m), "rationale": pa.repeat("", m),
        "created_at": pa.repeat(pa.scalar(now), m)}))
    con.execute("INSERT INTO ann SELECT * FROM _bulk")
    con.unregister("_bulk")
    t["bulk_tag"] = time.perf_counter() - s0
    res["annotations"] = con.execute("SELECT count(*) FROM ann").fetchone()[0]
    s0 = time.perf_counter()
    wrong = ("FROM items i JOIN predictions p USING (item_id) WHERE i.modality = 'CT' AND p.parsed IS NOT NULL "
             "AND p.parsed <> i.answer")
    n_rows = con.execute("SELECT count(*) " + wrong).fetchone()[0]
    page = con.execute(
        "WITH pg AS (SELECT i.item_id, p.model " + wrong + " ORDER BY i.item_id, p.model LIMIT ?) "
        "SELECT pg.item_id, list_sort(list_distinct(flatten(list(a.tags) FILTER (WHERE a.tags IS NOT NULL)))) "
        "FROM pg LEFT JOIN ann a ON a.target_id = pg.item_id AND (a.model IS NULL OR a.model = pg.model) "
        "GROUP BY pg.item_id, pg.model ORDER BY pg.item_id", [PAGE]).fetchall()
    t["errors_page"] = time.perf_counter() - s0
    res["errors_page"] = [n_rows, [(u, list(tg or [])) for u, tg in page]]
    s0 = time.perf_counter()
    st = con.execute("""
        WITH u AS (SELECT target_id, coalesce(model, '(all)') AS mk, reviewer, tags FROM ann),
        nrev AS (SELECT target_id, mk, count(DISTINCT reviewer) AS n FROM u GROUP BY ALL),
        votes AS (SELECT target_id, mk, tag, count(DISTINCT reviewer) AS c
                  FROM (SELECT target_id, mk, reviewer, unnest(tags) AS tag FROM u) GROUP BY ALL),
        cons AS (SELECT v.target_id, v.mk, v.tag FROM votes v JOIN nrev USING (target_id, mk) WHERE 2 * v.c >= nrev.n),
        un AS (SELECT i.modality, count(*) AS n FROM nrev JOIN items i ON i.item_id = nrev.target_id GROUP BY ALL)
        SELECT i.modality, c.tag, count(*) AS count, any_value(un.n) AS n
        FROM cons c JOIN items i ON i.item_id = c.target_id JOIN un USING (modality) GROUP BY ALL""").fetchall()
    t["stats"] = time.perf_counter() - s0
    res["stats"] = sorted((m_, tg, int(c), int(n)) for m_, tg, c, n in st)
    s0 = time.perf_counter()
    con.execute(f"""COPY (
        SELECT a.target_id, i.modality, a.model, p.prediction AS raw_answer, p.parsed AS parsed_answer,
               i.answer AS correct_answer, tag, a.reviewer, a.annotation_id,
               strftime(a.created_at, '%Y-%m-%dT%H:%M:%S.%f') AS created_at_utc
        FROM ann a, unnest(a.tags) AS t(tag) JOIN items i ON i.item_id = a.target_id
        LEFT JOIN predictions p ON p.item_id = a.target_id AND p.model = a.model
        ORDER BY a.target_id, a.created_at, a.annotation_id) TO '{d["csv"]}' (HEADER, FORMAT csv)""")
    t["export"] = time.perf_counter() - s0
    res["export"] = _csv_digest(d["csv"])
    con.close()
    return {"t": t, "res": res}


def startup_child(side: str, db: str) -> float:
    s0 = time.perf_counter()
    if side == "medviz":
        from medviz.store import Store
        s = Store(db)
        s.cursor().execute("SELECT count(*) FROM items").fetchone()
        s.close()
    else:
        import duckdb
        c = duckdb.connect(db)
        c.execute("SELECT count(*) FROM items").fetchone()
        c.close()
    return time.perf_counter() - s0


# --- parent ----------------------------------------------------------------------------------------------

def run_size(base: str, n: int, rounds: int) -> dict:
    from _child import run_child     # bench/ is the script's folder; imported here, not before the timed start-up
    import shutil
    data = make_data(os.path.join(base, f"data-{n}"), n)
    per = {"medviz": [], "raw": []}
    for r in range(rounds):
        order = ["medviz", "raw"] if r % 2 == 0 else ["raw", "medviz"]
        for side in order:
            work = os.path.join(base, f"{side}-{n}")
            shutil.rmtree(work, ignore_errors=True)
            os.makedirs(work)
            spec = dict(data, db=os.path.join(work, "s.duckdb"), csv=os.path.join(work, "export.csv"))
            import json
            out = run_child(__file__, ["--child", side, json.dumps(spec)])
            out["t"]["startup"] = run_child(__file__, ["--startup", side, spec["db"]])["t"]
            per[side].append(out)
    for a, b in zip(per["medviz"], per["raw"]):
        for step in a["res"]:
            if a["res"][step] != b["res"][step]:
                raise SystemExit(f"N={n}: medviz and raw disagree on {step}:\n  medviz {str(a['res'][step])[:600]}\n"
                                 f"  raw    {str(b['res'][step])[:600]}")
    med = {}
    for side in per:
        med[side] = {k: _median([o["t"][k] for o in per[side]]) for k in per[side][0]["t"]}
        med[side]["rss"] = _median([o["rss_mb"] for o in per[side]])
    spread = {k: [round(o["t"][k] / q["t"][k], 2) for o, q in zip(per["medviz"], per["raw"])]
              for k in BUDGETS if k != "rss"}
    spread["rss"] = [round(o["rss_mb"] / q["rss_mb"], 2) for o, q in zip(per["medviz"], per["raw"])]
    return {"n": n, "med": med, "spread": spread}


def _median(xs):
    xs = sorted(xs)
    k = len(xs) // 2
    return xs[k] if len(xs) % 2 else (xs[k - 1] + xs[k]) / 2


def _fmt(step: str, v: float) -> str:
    return f"{v:.0f} MB" if step == "rss" else (f"{v * 1000:.1f} ms" if v < 1 else f"{v:.2f} s")


def main(argv=None) -> int:
    import argparse
    import json
    import tempfile
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    ap.add_argument("--quick", action="store_true", help="N = 1,000 and 10,000 only")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--child", nargs=2, metavar=("SIDE", "SPEC"), help=argparse.SUPPRESS)
    ap.add_argument("--startup", nargs=2, metavar=("SIDE", "DB"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.startup:
        print(json.dumps({"t": startup_child(*args.startup)}))
        return 0
    if args.child:
        import resource
        side, spec = args.child[0], json.loads(args.child[1])
        out = (child_medviz if side == "medviz" else child_raw)(spec)
        out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(out))
        return 0
    sizes = [1_000, 10_000] if args.quick else args.sizes
    rounds = max(3, args.rounds)
    base = args.out or tempfile.mkdtemp(prefix="medviz-api-bench-")
    print(f"bench/api.py: SYNTHETIC generic benchmark (one model, modality on every item), N = {sizes}, "
          f"{rounds} rounds, medians; load average {os.getloadavg()[0]:.1f}; work folder {base}")
    results = [run_size(base, n, rounds) for n in sizes]
    steps = ["startup", "ingest", "save", "bulk_tag", "errors_page", "stats", "export", "rss"]
    print("\n| step | N | medviz | raw DuckDB | medviz ÷ raw | per-round ratios |")
    print("|---|---|---|---|---|---|")
    for step in steps:
        for r in results:
            m, w = r["med"]["medviz"][step], r["med"]["raw"][step]
            print(f"| {step} | {r['n']:,} | {_fmt(step, m)} | {_fmt(step, w)} | {m / w:.2f} | "
                  f"{', '.join(str(x) for x in r['spread'][step])} |")
    last = results[-1]
    note = "" if last["n"] == 100_000 else f" [at N={last['n']:,}, not 100,000]"
    print(f"\nload average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for step in steps:               # like the other scripts: report, never fail on a missed budget
        name, budget = BUDGETS[step]
        ratio = last["med"]["medviz"][step] / last["med"]["raw"][step]
        print(f"RESULT {name} {ratio:.2f} x (budget <= {budget}){note}")
    if not args.out:
        import shutil
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
