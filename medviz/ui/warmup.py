"""Process warm-up: the slow, tag-independent work of the pages done once per process in a background thread,
so the first visits do not pay for it: Streamlit's first-element check, the sidebar's reads, the leaderboards,
the first 2-D map and the provided similarities, then the Review page's modules (plotly, pydicom, the display
pipeline) and the first unit of every benchmark (its view and its image figure), then the Embeddings page's
default map figure. ``start`` is called when the app first opens the store (``data._store``) and can be
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


def _first_element_check() -> None:
    """Streamlit checks once per process, on the first element drawn, whether it runs in a Python REPL
    (``inspect.stack()``, which resolves the file of every loaded module: 0.1-0.4 s here); a visitor's first
    page paid it. Draw one element here instead (outside any page run it goes nowhere; Streamlit's "missing
    ScriptRunContext" notice for it is silenced)."""
    import streamlit as st
    lg = logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context")
    level = lg.level
    lg.setLevel(logging.ERROR)
    try:
        st.empty()
    finally:
        lg.setLevel(level)


def run(path: str) -> None:
    """The warm-up itself (synchronous); failures are logged and ignored (the pages compute on demand)."""
    from . import data
    try:
        _first_element_check()
        data.store(path)
        benches = list(data.benchmarks(path)["benchmark_id"])     # the sidebar's cached reads, then
        for bench in benches:                                     # the Leaderboard, the first page, first
            data.leaderboard(path, bench, tuple(data.models(path, bench)["model"]))
        for bench in benches:
            for enc in data.computed_encoders(path, bench)[:1]:
                data.embedding_map(path, bench, enc, "pca")
            data.encoder_similarities(path, bench)
        from . import pair_viewer                   # plotly, pydicom, the display pipeline
        for bench in benches:
            ids = data.unit_ids(path, bench)
            if ids:
                models = tuple(data.models(path, bench)["model"])
                pair_viewer.warm_unit(data.unit_view(path, bench, ids[0], models), {})
        for bench in benches:                       # the Embeddings page's default map (PCA, by correctness)
            models = tuple(data.models(path, bench)["model"])
            for enc in data.computed_encoders(path, bench)[:1]:
                data.embedding_figure(path, bench, enc, models, "pca", "correctness", data.generation())
    except Exception:  # noqa: BLE001 - warming is an optimisation
        log.debug("cache warm-up failed", exc_info=True)
