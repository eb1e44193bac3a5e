"""Process warm-up: the slow, tag-independent work of the pages done once per process in a background thread,
so the first visits do not pay for it: the leaderboards, the first 2-D map and the provided similarities, then
the Review page's modules (plotly, pydicom, the display pipeline) and the first unit of every benchmark (its
view and its image figure). ``start`` is called when the app first opens the store (``data._store``) and can be
called at server start (``medviz serve``'s lifespan) so even the first visit finds the work done."""
from __future__ import annotations

import logging
import threading

log = logging.getLogger("medviz.ui")
_STARTED: set[str] = set()
_LOCK = threading.Lock()


def start(path: str | None = None) -> threading.Thread | None:
    """Start the warm-up of the database at ``path`` (default $MEDVIZ_DB) unless it already ran in this
    process; returns the thread (None when already started)."""
    from . import data
    path = path or data.db_path()
    with _LOCK:
        if path in _STARTED:
            return None
        _STARTED.add(path)
    t = threading.Thread(target=run, args=(path,), daemon=True, name="medviz-warmup")
    t.start()
    return t


def run(path: str) -> None:
    """The warm-up itself (synchronous); failures are logged and ignored (the pages compute on demand)."""
    from ..store import core
    from . import data
    try:
        st_ = data.store(path)
        benches = list(core.benchmarks(st_.cursor())["benchmark_id"])
        for bench in benches:                       # the Leaderboard, the first page, first
            data.leaderboard(path, bench, tuple(core.models(st_.cursor(), bench)["model"]))
        for bench in benches:
            for enc in data.computed_encoders(path, bench)[:1]:
                data.embedding_map(path, bench, enc, "pca")
            data.encoder_similarities(path, bench)
        from . import pair_viewer                   # plotly, pydicom, the display pipeline
        for bench in benches:
            ids = data.unit_ids(path, bench)
            if ids:
                models = tuple(core.models(st_.cursor(), bench)["model"])
                pair_viewer.warm_unit(data.unit_view(path, bench, ids[0], models), {})
    except Exception:  # noqa: BLE001 - warming is an optimisation
        log.debug("cache warm-up failed", exc_info=True)
