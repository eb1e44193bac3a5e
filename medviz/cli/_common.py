"""What every ``medviz`` sub-command shares: the ``--db`` option, opening the store, the progress bar,
percent formatting and the one place errors become a message (never a traceback)."""
from __future__ import annotations

import math
import sys

from ..errors import MedvizError


def db_arg(p, *, remote: bool = False) -> None:
    """``--db``; with ``remote``, also ``--server`` (the command then goes through a running server's API
    when one owns the store: see ``medviz.cli.remote``)."""
    p.add_argument("--db", default=None, help="DuckDB file (default $MEDVIZ_DB or ./medviz.duckdb)")
    if remote:
        p.add_argument("--server", default=None,
                       help="a running medviz server's URL (default $MEDVIZ_SERVER, or the server that owns --db); "
                            "token in $MEDVIZ_TOKEN")


def tr_arg(p) -> None:
    """MediConfusion's judge threshold (official ``--tr``); None = the official default."""
    p.add_argument("--tr", type=float, default=None,
                   help="MediConfusion: a letter wins when its score beats the other's by at least this "
                        "(official --tr; more than 0, at most 10; default 3, 2 is documented for some runs)")


def open_store(args):
    from ..store import Store
    return Store(args.db)


def fmt_pct(v) -> str:
    if isinstance(v, float):
        return "-" if math.isnan(v) else f"{100 * v:6.2f}%"
    return str(v)


def progress_bar(desc: str, unit: str = "B"):
    """A ``progress(done, total)`` callback drawing a tqdm bar on stderr (hidden when not a terminal).

    ``unit="B"`` scales bytes (1.2 MB); any other unit counts things (images). Call ``.close()`` when done.
    """
    from tqdm import tqdm
    bar = tqdm(total=0, unit=unit, unit_scale=unit == "B", desc=desc, file=sys.stderr, disable=None,
               smoothing=0.1)

    def update(done, total):
        if bar.total != total:
            bar.total = total
            bar.refresh()
        bar.update(done - bar.n)
    update.close = bar.close
    return update


def run(args) -> int:
    """Run the parsed command; a MedvizError or Ctrl-C becomes one line on stderr and an exit status."""
    try:
        return args.func(args) or 0
    except MedvizError as e:
        print(f"medviz: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("medviz: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:        # output piped into `head`: stop quietly
        sys.stderr.close()
        return 141
