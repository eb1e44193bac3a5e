"""GMAI-style TSV ingest: throughput vs a bare reference, and peak RSS at 1 GB and 4 GB input.

Reference (same run): read lines, split on tabs, base64-decode the image column, write each image to a
file — nothing else. medviz: ``ingest_benchmark(kind="gmai")`` into a fresh DuckDB store (csv parsing,
validation of every image's header/trailer, sha256, items written in batches, one transaction).
Each measurement runs in its own child process so its peak RSS is its own.

    python bench/ingest.py [--sizes 1,4]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

CHILD = r"""
import binascii, json, os, resource, sys, time
mode, tsv, out = sys.argv[1], sys.argv[2], sys.argv[3]
t = time.perf_counter()
if mode == "reference":
    os.makedirs(out, exist_ok=True)
    with open(tsv, "r", encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        col = header.index("image")
        for line in f:
            parts = line.rstrip("\n").split("\t")
            with open(os.path.join(out, parts[0] + ".png"), "wb") as fh:
                fh.write(binascii.a2b_base64(parts[col]))
    rows = None
else:
    sys.path.insert(0, sys.argv[4])
    from medviz.store import Store
    from medviz.ingest import ingest_benchmark
    with Store(os.path.join(out, "scale.duckdb")) as s:
        rows = ingest_benchmark(s, tsv, kind="gmai", benchmark_id="scale")["items"]
secs = time.perf_counter() - t
print(json.dumps({"seconds": secs, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rows": rows}))
"""


def run_child(mode: str, tsv: str, out: str) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out, exist_ok=True)
    res = subprocess.run([sys.executable, "-c", CHILD, mode, tsv, out, os.path.join(HERE, "..")],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(res.stderr)
    d = json.loads(res.stdout.strip().splitlines()[-1])
    shutil.rmtree(out, ignore_errors=True)
    return d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1,4", help="TSV sizes in GB")
    ap.add_argument("--out", default=os.path.join(HERE, "out", "scale"))
    args = ap.parse_args()
    from bench.make_scale import write_tsv
    os.makedirs(args.out, exist_ok=True)
    results = []
    for gb in [float(x) for x in args.sizes.split(",")]:
        tsv = write_tsv(args.out, gb)
        size_mb = os.path.getsize(tsv) / 2**20
        os.system("sync")
        ref = run_child("reference", tsv, os.path.join(args.out, "ref_images"))
        med = run_child("medviz", tsv, os.path.join(args.out, "medviz_store"))
        results.append((gb, size_mb, ref, med))
        os.remove(tsv)                # disk: keep only one big file at a time
    print(f"{'input':>8}{'ref MB/s':>10}{'medviz MB/s':>13}{'ratio':>7}{'ref RSS MB':>12}{'medviz RSS MB':>15}{'rows':>8}")
    for gb, size_mb, ref, med in results:
        r_tp, m_tp = size_mb / ref["seconds"], size_mb / med["seconds"]
        print(f"{gb:>6g}GB{r_tp:>10.0f}{m_tp:>13.0f}{m_tp / r_tp:>7.2f}{ref['rss_mb']:>12.0f}{med['rss_mb']:>15.0f}"
              f"{med['rows']:>8}")
    worst = min((size_mb / med["seconds"]) / (size_mb / ref["seconds"]) for _, size_mb, ref, med in results)
    print(f"RESULT tsv_ingest_over_reference {worst:.2f} ratio (budget >= 0.5)")
    for gb, _, _, med in results:
        print(f"RESULT tsv_ingest_peak_rss_{gb:g}gb {med['rss_mb']:.0f} MB (budget < 1024)")
    if len(results) >= 2:
        growth = results[-1][3]["rss_mb"] / results[0][3]["rss_mb"]
        print(f"RESULT tsv_ingest_rss_growth_{results[-1][0]:g}gb_over_{results[0][0]:g}gb {growth:.2f} ratio "
              "(budget < 1.25)")


if __name__ == "__main__":
    main()
