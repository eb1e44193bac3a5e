"""``medviz`` command line. Thin: parse arguments, call medviz modules, print.

Contract forms (keep them):
  medviz score mediconfusion DATASET_JSON RESULTS_JSON --json
  medviz score gmai BENCHMARK_TSV PREDICTIONS --json
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys

from .errors import MedvizError

# Other components add their sub-commands here: module with register(subparsers).
EXTRA_COMMANDS: list[str] = [
    "medviz.encoders.cli",
    "medviz.annotations.cli",
    "medviz.server",
    "medviz.tokens_cli",
]


def _db_arg(p, *, remote: bool = False):
    p.add_argument("--db", default=None, help="DuckDB file (default $MEDVIZ_DB or ./medviz.duckdb)")
    if remote:
        p.add_argument("--server", default=None,
                       help="a running medviz server's URL (default $MEDVIZ_SERVER, or the server that owns --db); "
                            "token in $MEDVIZ_TOKEN")


def _remote(args):
    """The API client when a server owns the store (see medviz.remote), else None."""
    from .remote import client_for
    return client_for(args)


def _open_store(args):
    from .store import Store
    return Store(args.db)


def _fmt(v) -> str:
    if isinstance(v, float):
        return "-" if math.isnan(v) else f"{100 * v:6.2f}%"
    return str(v)


def _progress_bar(desc: str):
    from tqdm import tqdm
    bar = tqdm(total=0, unit="B", unit_scale=True, desc=desc, file=sys.stderr, disable=None)

    def update(done, total):
        if bar.total != total:
            bar.total = total
        bar.n = done
        bar.refresh()
    update.close = bar.close
    return update


# --- commands -------------------------------------------------------------------------------------------

def cmd_score(args) -> int:
    from . import evaluate
    if args.benchmark == "mediconfusion":
        res = evaluate.score_mediconfusion_files(args.benchmark_file, args.predictions, with_ci=not args.json)
        if args.json:
            out = {k: res[k] for k in ("pairs", "set_accuracy", "individual_accuracy", "confusion", "invalid",
                                        "precision")}
            out["per_category"] = {c: {"set_accuracy": v["set_accuracy"],
                                       "individual_accuracy": v["individual_accuracy"]}
                                   for c, v in res["per_category"].items()}
            print(json.dumps(out, indent=2))
            return 0
        print(f"MediConfusion: {res['pairs']} pairs ({res['answered_pairs']} answered)")
        print(f"{'metric':<22}{'value':>9}   95% Wilson CI")
        for k in ("set_accuracy", "individual_accuracy", "confusion", "invalid", "precision", "image_blind"):
            ci = res["ci"][k]
            print(f"{k:<22}{_fmt(res[k]):>9}   [{_fmt(ci['ci_low'])}, {_fmt(ci['ci_high'])}]  ({ci['k']}/{ci['n']})")
        print("random guessing: set accuracy 25.00%, confusion 50.00%\n")
        print(f"{'category':<20}{'slots':>6}{'set acc':>10}{'indiv':>10}{'confused':>10}{'invalid':>10}{'precision':>10}")
        for c, v in res["per_category"].items():
            print(f"{c:<20}{v['slots']:>6}{_fmt(v['set_accuracy']):>10}{_fmt(v['individual_accuracy']):>10}"
                  f"{_fmt(v['confusion']):>10}{_fmt(v['invalid']):>10}{_fmt(v['precision']):>10}")
        return 0
    res = evaluate.score_gmai_files(args.benchmark_file, args.predictions, with_ci=not args.json)
    if args.json:
        print(json.dumps({"rows": res["rows"], "overall": res["overall"], "by": res["by"]}, indent=2))
        return 0
    ci = res["ci"]["overall"]
    print(f"GMAI-MMBench exact matching: {res['rows']} rows, overall {_fmt(res['overall'])} "
          f"[{_fmt(ci['ci_low'])}, {_fmt(ci['ci_high'])}]; random-guess baseline "
          f"{_fmt(res.get('baseline', {}).get('overall', float('nan')))}")
    for group, vals in res["by"].items():
        print(f"\nby {group}:")
        for k, v in vals.items():
            c = res["by_ci"][group][k]
            print(f"  {k[:40]:<40}{_fmt(v):>9}  [{_fmt(c['ci_low'])}, {_fmt(c['ci_high'])}]  n={c['n']}")
    return 0


def cmd_ingest(args) -> int:
    client = _remote(args)
    if client is not None:
        from .remote import run_ingest
        return run_ingest(client, args)
    from .ingest import ingest_benchmark
    with _open_store(args) as store:
        bar = _progress_bar("ingest")
        try:
            res = ingest_benchmark(store, args.path, kind=args.kind, benchmark_id=args.id,
                                   images_dir=args.images, progress=bar)
        finally:
            bar.close()
    print(f"loaded benchmark '{res['benchmark_id']}' ({res['kind']}): {res['items']} items, {res['pairs']} pairs, "
          f"{res['images_missing']} images missing -> {store.path}")
    return 0


def cmd_predictions_import(args) -> int:
    client = _remote(args)
    if client is not None:
        from .remote import run_predictions_import
        return run_predictions_import(client, args)
    from .ingest import import_predictions
    with _open_store(args) as store:
        for path in args.paths:
            counts = import_predictions(store, args.benchmark, path, fmt=args.format, model=args.model,
                                        result_path=args.result, synthetic=args.synthetic)
            for m, n in counts.items():
                print(f"{m}: {n} predictions imported from {path}")
    return 0


def cmd_scores(args) -> int:
    client = _remote(args)
    if client is not None:
        from .remote import run_scores
        return run_scores(client, args)
    from .evaluate import score_store
    with _open_store(args) as store:
        res = score_store(store, args.benchmark, args.model or None)
    if args.json:
        print(json.dumps(res, indent=2, default=float))
        return 0
    for model, m in res.items():
        if "set_accuracy" in m:
            print(f"{model:<40} set {_fmt(m['set_accuracy'])}  indiv {_fmt(m['individual_accuracy'])}  "
                  f"confusion {_fmt(m['confusion'])}  invalid {_fmt(m['invalid'])}")
        else:
            print(f"{model:<40} accuracy {_fmt(m['overall'])}  n={m['rows']}")
    return 0


def cmd_demo(args) -> int:
    from .demo import build_demo
    with _open_store(args) as store:
        summary = build_demo(store, args.out)
        for extra in DEMO_HOOKS:
            __import__(extra, fromlist=["demo_hook"]).demo_hook(store)
    for b in summary["benchmarks"]:
        print(f"{b['benchmark_id']}: {b['items']} items, {b['pairs']} pairs")
    print(f"sample database ready: {os.path.abspath(store.path)}")
    return 0


# Modules with demo_hook(store) that add their own example data (annotations, embeddings) to the demo.
DEMO_HOOKS: list[str] = [
    "medviz.encoders.cli",
    "medviz.annotations.demo",
]


def cmd_list(args) -> int:
    client = _remote(args)
    if client is not None:
        from .remote import run_list
        return run_list(client, args)
    from .store import core
    with _open_store(args) as store:
        cur = store.cursor()
        for _, b in core.benchmarks(cur).iterrows():
            print(f"{b.benchmark_id} ({b.kind}): {b.n_items} items, {b.n_pairs} pairs")
            for _, m in core.models(cur, b.benchmark_id).iterrows():
                tag = " [synthetic]" if m.synthetic else ""
                print(f"    {m.model}{tag}: {m.n_predictions} predictions")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="medviz", description="Why do multimodal models get medical images wrong?")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("score", help="score a prediction file exactly as the official scorer does")
    s.add_argument("benchmark", choices=["mediconfusion", "gmai"])
    s.add_argument("benchmark_file", help="MediConfusion dataset.json or GMAI-MMBench TSV")
    s.add_argument("predictions", help="MediConfusion Results JSON or VLMEvalKit .xlsx/.tsv/.json")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(func=cmd_score)

    s = sub.add_parser("ingest", help="load a benchmark into the store")
    s.add_argument("path")
    s.add_argument("--kind", choices=["mediconfusion", "gmai", "generic"])
    s.add_argument("--id", help="benchmark id (default from the file name)")
    s.add_argument("--images", help="images folder (MediConfusion: <dir>/<im_N_local>.jpg)")
    _db_arg(s, remote=True)
    s.set_defaults(func=cmd_ingest)

    s = sub.add_parser("predictions", help="prediction files")
    psub = s.add_subparsers(dest="pcommand", required=True)
    s = psub.add_parser("import", help="import model outputs (re-importing a model replaces its run)")
    s.add_argument("benchmark", help="benchmark id in the store")
    s.add_argument("paths", nargs="+")
    s.add_argument("--format", choices=["mediconfusion", "vlmevalkit", "generic"])
    s.add_argument("--model", help="model name (default from the file name)")
    s.add_argument("--result", help="VLMEvalKit judged *_result.xlsx with hit/log columns")
    s.add_argument("--synthetic", action="store_true", help="label these predictions as synthetic")
    _db_arg(s, remote=True)
    s.set_defaults(func=cmd_predictions_import)

    s = sub.add_parser("scores", help="score the models stored for a benchmark")
    s.add_argument("benchmark")
    s.add_argument("--model", action="append")
    s.add_argument("--json", action="store_true")
    _db_arg(s, remote=True)
    s.set_defaults(func=cmd_scores)

    s = sub.add_parser("demo", help="build the sample benchmarks and database")
    s.add_argument("--out", default=os.path.join("sample_data", "generated"))
    _db_arg(s)
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("list", help="list benchmarks and models in the store")
    _db_arg(s, remote=True)
    s.set_defaults(func=cmd_list)

    for module in EXTRA_COMMANDS:
        __import__(module, fromlist=["register"]).register(sub)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except MedvizError as e:
        print(f"medviz: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("medviz: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
