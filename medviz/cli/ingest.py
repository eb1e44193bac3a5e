"""``medviz ingest``, ``medviz predictions import``, ``medviz list`` and ``medviz demo``."""
from __future__ import annotations

import os
import sys

from .. import registry
from ._common import db_arg, open_store, progress_bar, tr_arg
from .remote import through_server

# Modules with demo_hook(store) that add their own example data (annotations, embeddings) to the demo.
DEMO_HOOKS: list[str] = [
    "medviz.encoders.demo",
    "medviz.annotations.demo",
]


@through_server("run_ingest")
def cmd_ingest(args) -> int:
    from ..ingest import ingest_benchmark
    with open_store(args) as store:
        bar = progress_bar("ingest")
        try:
            res = ingest_benchmark(store, args.path, kind=args.kind, benchmark_id=args.id,
                                   images_dir=args.images, progress=bar)
        finally:
            bar.close()
    from ..ingest import image_summary_lines
    print(f"loaded benchmark '{res['benchmark_id']}' ({res['kind']}): {res['items']} items, {res['pairs']} pairs "
          f"-> {store.path}")
    for line in image_summary_lines(res["images"], args.path):
        print(line, file=sys.stderr if line.startswith("warning:") else sys.stdout)
    return 0


@through_server("run_predictions_import")
def cmd_predictions_import(args) -> int:
    from ..ingest import import_predictions
    with open_store(args) as store:
        for path in args.paths:
            counts = import_predictions(store, args.benchmark, path, fmt=args.format, model=args.model,
                                        result_path=args.result, synthetic=args.synthetic, tr=args.tr)
            for m, n in counts.items():
                print(f"{m}: {n} predictions imported from {path}")
    return 0


def cmd_demo(args) -> int:
    from ..demo import build_demo
    with open_store(args) as store:
        summary = build_demo(store, args.out)
        for extra in DEMO_HOOKS:
            __import__(extra, fromlist=["demo_hook"]).demo_hook(store)
    for b in summary["benchmarks"]:
        print(f"{b['benchmark_id']}: {b['items']} items, {b['pairs']} pairs")
    print(f"sample database ready: {os.path.abspath(store.path)}")
    return 0


@through_server("run_list")
def cmd_list(args) -> int:
    from ..store import core
    with open_store(args) as store:
        cur = store.cursor()
        for _, b in core.benchmarks(cur).iterrows():
            print(f"{b.benchmark_id} ({b.kind}): {b.n_items} items, {b.n_pairs} pairs")
            for _, m in core.models(cur, b.benchmark_id).iterrows():
                tag = " [synthetic]" if m.synthetic else ""
                print(f"    {m.model}{tag}: {m.n_predictions} predictions")
    return 0


def register(sub) -> None:
    s = sub.add_parser("ingest", help="load a benchmark into the store")
    s.add_argument("path")
    s.add_argument("--kind", choices=list(registry.BENCHMARK_KINDS))
    s.add_argument("--id", help="benchmark id (default from the file name)")
    s.add_argument("--images", help="images folder (MediConfusion: <dir>/<im_N_local>.jpg)")
    db_arg(s, remote=True)
    s.set_defaults(func=cmd_ingest)

    s = sub.add_parser("predictions", help="prediction files")
    psub = s.add_subparsers(dest="pcommand", required=True)
    s = psub.add_parser("import", help="import model outputs (re-importing a model replaces its run)")
    s.add_argument("benchmark", help="benchmark id in the store")
    s.add_argument("paths", nargs="+")
    s.add_argument("--format", choices=list(registry.PREDICTION_FORMATS))
    s.add_argument("--model", help="model name (default from the file name)")
    s.add_argument("--result", help="VLMEvalKit judged *_result.xlsx with hit/log columns")
    s.add_argument("--synthetic", action="store_true", help="label these predictions as synthetic")
    tr_arg(s)
    db_arg(s, remote=True)
    s.set_defaults(func=cmd_predictions_import)

    s = sub.add_parser("demo", help="build the sample benchmarks and database")
    s.add_argument("--out", default=os.path.join("sample_data", "generated"))
    db_arg(s)
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("list", help="list benchmarks and models in the store")
    db_arg(s, remote=True)
    s.set_defaults(func=cmd_list)
