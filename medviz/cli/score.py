"""``medviz score mediconfusion|gmai BENCHMARK PREDICTIONS [--json]`` (files, official rules, no store) and
``medviz scores BENCHMARK`` (the models stored for a benchmark).

Contract forms (keep them):
  medviz score mediconfusion DATASET_JSON RESULTS_JSON --json
  medviz score gmai BENCHMARK_TSV PREDICTIONS --json
"""
from __future__ import annotations

import json

from .. import registry
from ..errors import MedvizError
from ._common import db_arg, fmt_pct, open_store, tr_arg
from .remote import through_server


def cmd_score(args) -> int:
    kind = registry.get_kind(args.benchmark)
    options = {}
    if args.tr is not None:
        if kind.parser != "mediconfusion":
            raise MedvizError(f"--tr applies to MediConfusion judge scores, not to {kind.label}", field="--tr")
        options["tr"] = args.tr
    res = kind.score_files(args.benchmark_file, args.predictions, with_ci=not args.json, **options)
    report = _pair_report if kind.paired else _item_report
    report(res, args.json)
    return 0


def _pair_report(res: dict, as_json: bool) -> None:
    if as_json:
        out = {k: res[k] for k in ("pairs", "set_accuracy", "individual_accuracy", "confusion", "invalid",
                                    "precision")}
        out["per_category"] = {c: {"set_accuracy": v["set_accuracy"],
                                   "individual_accuracy": v["individual_accuracy"]}
                               for c, v in res["per_category"].items()}
        print(json.dumps(out, indent=2))
        return
    print(f"MediConfusion: {res['pairs']} pairs ({res['answered_pairs']} answered), judge threshold --tr {res['tr']:g}")
    print(f"{'metric':<22}{'value':>9}   95% Wilson CI")
    for k in ("set_accuracy", "individual_accuracy", "confusion", "invalid", "precision", "image_blind"):
        ci = res["ci"][k]
        print(f"{k:<22}{fmt_pct(res[k]):>9}   [{fmt_pct(ci['ci_low'])}, {fmt_pct(ci['ci_high'])}]  ({ci['k']}/{ci['n']})")
    print("random guessing: set accuracy 25.00%, confusion 50.00%\n")
    print(f"{'category':<20}{'slots':>6}{'set acc':>10}{'indiv':>10}{'confused':>10}{'invalid':>10}{'precision':>10}")
    for c, v in res["per_category"].items():
        print(f"{c:<20}{v['slots']:>6}{fmt_pct(v['set_accuracy']):>10}{fmt_pct(v['individual_accuracy']):>10}"
              f"{fmt_pct(v['confusion']):>10}{fmt_pct(v['invalid']):>10}{fmt_pct(v['precision']):>10}")


def _item_report(res: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"rows": res["rows"], "overall": res["overall"], "by": res["by"]}, indent=2))
        return
    ci = res["ci"]["overall"]
    print(f"GMAI-MMBench exact matching: {res['rows']} rows, overall {fmt_pct(res['overall'])} "
          f"[{fmt_pct(ci['ci_low'])}, {fmt_pct(ci['ci_high'])}]; random-guess baseline "
          f"{fmt_pct(res.get('baseline', {}).get('overall', float('nan')))}")
    for group, vals in res["by"].items():
        print(f"\nby {group}:")
        for k, v in vals.items():
            c = res["by_ci"][group][k]
            print(f"  {k[:40]:<40}{fmt_pct(v):>9}  [{fmt_pct(c['ci_low'])}, {fmt_pct(c['ci_high'])}]  n={c['n']}")


@through_server("run_scores")
def cmd_scores(args) -> int:
    from ..evaluate import score_store
    with open_store(args) as store:
        res = score_store(store, args.benchmark, args.model or None)
    if args.json:
        print(json.dumps(res, indent=2, default=float))
        return 0
    print_scores(res)
    return 0


def print_scores(res: dict) -> None:
    """One line per model (``medviz scores`` without ``--json``; also its remote twin)."""
    for model, m in res.items():
        if "set_accuracy" in m:
            print(f"{model:<40} set {fmt_pct(m['set_accuracy'])}  indiv {fmt_pct(m['individual_accuracy'])}  "
                  f"confusion {fmt_pct(m['confusion'])}  invalid {fmt_pct(m['invalid'])}")
        else:
            print(f"{model:<40} accuracy {fmt_pct(m['overall'])}  n={m['rows']}")



def register(sub) -> None:
    s = sub.add_parser("score", help="score a prediction file exactly as the official scorer does")
    s.add_argument("benchmark", choices=registry.kind_names(with_file_scorer=True))
    s.add_argument("benchmark_file", help="MediConfusion dataset.json or GMAI-MMBench TSV")
    s.add_argument("predictions", help="MediConfusion Results JSON or VLMEvalKit .xlsx/.tsv/.json")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    tr_arg(s)
    s.set_defaults(func=cmd_score)

    s = sub.add_parser("scores", help="score the models stored for a benchmark")
    s.add_argument("benchmark")
    s.add_argument("--model", action="append")
    s.add_argument("--json", action="store_true")
    db_arg(s, remote=True)
    s.set_defaults(func=cmd_scores)
