"""``medviz export annotations|outcomes|failure-modes`` and ``medviz import annotations``."""
from __future__ import annotations

import os

from ._common import db_arg, open_store
from .remote import through_server


@through_server("run_export_annotations")
def cmd_export(args) -> int:
    from ..export import export_annotations
    fmt = args.format or ("parquet" if args.out.lower().endswith(".parquet") else "csv")
    with open_store(args) as store:
        export_annotations(store, args.out, fmt=fmt, benchmark_id=args.benchmark, model=args.model,
                           modality=args.modality, encoder=args.encoder, base_url=args.base_url)
    print(f"exported current annotations ({fmt}) -> {os.path.abspath(args.out)}")
    return 0


def cmd_export_outcomes(args) -> int:
    from ..export import export_outcomes
    from ..readmodels.errors import ErrorFilter
    fmt = args.format or ("parquet" if args.out.lower().endswith(".parquet") else "csv")
    f = ErrorFilter(outcome=None if args.outcome == "all" else args.outcome, modalities=args.modality or [],
                    categories=args.category or [], tags=args.tag or [])
    with open_store(args) as store:
        export_outcomes(store, args.benchmark, args.out, fmt=fmt, models=args.model, error_filter=f,
                        base_url=args.base_url)
    print(f"exported (unit, model) outcomes ({fmt}) -> {os.path.abspath(args.out)}")
    return 0


def cmd_export_failure_modes(args) -> int:
    from ..export import export_failure_modes
    ext = args.out.lower().rsplit(".", 1)[-1]
    fmt = args.format or {"md": "markdown", "tex": "latex"}.get(ext, "csv")
    with open_store(args) as store:
        export_failure_modes(store, args.benchmark, args.out, fmt=fmt, models=args.model, level=args.level)
    print(f"exported failure mode x model table ({fmt}) -> {os.path.abspath(args.out)}")
    return 0


@through_server("run_import_annotations")
def cmd_import(args) -> int:
    from ..annotations.writer import close_writer
    from ..auth import file_owner
    from ..export import import_annotations
    owner = file_owner()                  # the database file's owner (an admin): the authors are kept
    with open_store(args) as store:
        try:
            n = import_annotations(store, args.path, by=owner)
        finally:
            close_writer(store)
    print(f"imported {n} annotation(s) from {args.path} -> {store.path} "
          f"(recorded as imported by {owner.display_name})")
    return 0


def _base_url_arg(p) -> None:
    p.add_argument("--base-url", help="where review_url points (default MEDVIZ_BASE_URL or http://localhost:8501)")


def _table_args(p, out_help: str, formats: list[str]) -> None:
    """benchmark, --out, --format, --model (repeatable): what the per-benchmark table exports take."""
    p.add_argument("benchmark")
    p.add_argument("--out", required=True, help=out_help)
    p.add_argument("--format", choices=formats, help="default from the --out extension")
    p.add_argument("--model", action="append", help="only this model (repeat for several; default all)")


def register(subparsers) -> None:
    s = subparsers.add_parser("export", help="export data for papers")
    sub = s.add_subparsers(dest="export_what", required=True)
    e = sub.add_parser("annotations", help="tagged failure modes: one row per current annotation x tag")
    e.add_argument("--out", required=True, help="output file (.csv or .parquet)")
    e.add_argument("--format", choices=["csv", "parquet"], help="default from the --out extension")
    e.add_argument("--benchmark", help="only this benchmark id")
    e.add_argument("--model", help="only annotations for this model (and those for all models)")
    e.add_argument("--modality", help="only targets of this modality")
    e.add_argument("--encoder", help="the computed encoder whose similarity to export (default: the first one "
                                     "computed, by name)")
    _base_url_arg(e)
    db_arg(e, remote=True)
    e.set_defaults(func=cmd_export)
    o = sub.add_parser("outcomes", help="one row per (unit, model) of an Errors filter, with its outcome")
    _table_args(o, "output file (.csv or .parquet)", ["csv", "parquet"])
    o.add_argument("--outcome", default="error", choices=["error", "wrong", "confused", "invalid", "correct", "all"],
                   help="which outcomes (default: every error, like the Errors page)")
    o.add_argument("--modality", action="append", help="only this modality (repeatable)")
    o.add_argument("--category", action="append", help="only this category (repeatable)")
    o.add_argument("--tag", action="append", help="only units carrying this tag or tag group (repeatable)")
    _base_url_arg(o)
    db_arg(o)
    o.set_defaults(func=cmd_export_outcomes)
    t = sub.add_parser("failure-modes", help="failure mode x model table with 95%% intervals (CSV, Markdown, LaTeX)")
    _table_args(t, "output file (.csv, .md or .tex)", ["csv", "markdown", "latex"])
    t.add_argument("--level", choices=["tag", "top"], default="tag", help="sub-tags, or their groups (top)")
    db_arg(t)
    t.set_defaults(func=cmd_export_failure_modes)

    s = subparsers.add_parser("import", help="import data exported by medviz")
    sub = s.add_subparsers(dest="import_what", required=True)
    i = sub.add_parser("annotations", help="restore an annotation export (CSV or Parquet)")
    i.add_argument("path")
    db_arg(i, remote=True)
    i.set_defaults(func=cmd_import)
