"""``medviz export annotations`` and ``medviz import annotations``."""
from __future__ import annotations

import os

from ._common import db_arg, open_store


def cmd_export(args) -> int:
    from .remote import client_for
    client = client_for(args)
    if client is not None:
        from .remote import run_export_annotations
        return run_export_annotations(client, args)
    from ..export import export_annotations
    fmt = args.format or ("parquet" if args.out.lower().endswith(".parquet") else "csv")
    with open_store(args) as store:
        export_annotations(store, args.out, fmt=fmt, benchmark_id=args.benchmark, model=args.model,
                           modality=args.modality)
    print(f"exported current annotations ({fmt}) -> {os.path.abspath(args.out)}")
    return 0


def cmd_import(args) -> int:
    from .remote import client_for
    client = client_for(args)
    if client is not None:
        from .remote import run_import_annotations
        return run_import_annotations(client, args)
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


def register(subparsers) -> None:
    s = subparsers.add_parser("export", help="export data for papers")
    sub = s.add_subparsers(dest="export_what", required=True)
    e = sub.add_parser("annotations", help="tagged failure modes: one row per current annotation x tag")
    e.add_argument("--out", required=True, help="output file (.csv or .parquet)")
    e.add_argument("--format", choices=["csv", "parquet"], help="default from the --out extension")
    e.add_argument("--benchmark", help="only this benchmark id")
    e.add_argument("--model", help="only annotations for this model (and those for all models)")
    e.add_argument("--modality", help="only targets of this modality")
    db_arg(e, remote=True)
    e.set_defaults(func=cmd_export)

    s = subparsers.add_parser("import", help="import data exported by medviz")
    sub = s.add_subparsers(dest="import_what", required=True)
    i = sub.add_parser("annotations", help="restore an annotation export (CSV or Parquet)")
    i.add_argument("path")
    db_arg(i, remote=True)
    i.set_defaults(func=cmd_import)
