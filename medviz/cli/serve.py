"""``medviz serve``: the app, the REST API (/api/v1) and background jobs in one process (medviz.server)."""
from __future__ import annotations

import os

from ._common import db_arg


def cmd_serve(args) -> int:
    from ..server import serve
    serve(args.db or os.environ.get("MEDVIZ_DB") or "medviz.duckdb", host=args.host, port=args.port,
          max_upload_mb=args.max_upload_mb)
    return 0


def register(sub) -> None:
    from ..server import DEFAULT_MAX_UPLOAD_MB
    s = sub.add_parser("serve", help="run the app, the REST API (/api/v1) and background jobs in one process")
    s.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=8501)
    s.add_argument("--max-upload-mb", type=int, default=None,
                   help=f"largest upload accepted (default $MEDVIZ_MAX_UPLOAD_MB or {DEFAULT_MAX_UPLOAD_MB})")
    db_arg(s)
    s.set_defaults(func=cmd_serve)
