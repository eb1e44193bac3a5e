"""The shared sidebar (database, benchmark, models) and the ``Context`` every page reads (with the signed-in
principal from ``medviz.ui.signin``).

``app.py`` calls ``sidebar()`` on every run before the page; pages call ``current()``. The benchmark and
model choice also go into the URL (``?b=...&m=...``) so a copied link opens the same view.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from .. import registry
from ..errors import DatabaseInUse, MedvizError
from ..store import Store
from . import data
from .text import md

_KEY = "_medviz_ctx"


@dataclass
class Context:
    db_path: str
    store: Store
    benchmark_id: str | None = None
    kind: str | None = None
    models: tuple[str, ...] = ()
    model_info: pd.DataFrame | None = None
    reviewer: object | None = None          # the signed-in medviz.auth.Principal, when known


def models_key(benchmark_id: str) -> str:
    """The session key of the sidebar's model selection for a benchmark."""
    return f"models::{benchmark_id}"


def current() -> Context:
    """The Context app.py's ``sidebar()`` built in this run (every page runs through app.py's navigation)."""
    ctx = st.session_state.get(_KEY)
    if ctx is None:
        raise RuntimeError("a page ran without app.py's sidebar (run the app with `streamlit run app.py`)")
    return ctx


def sidebar(principal=None) -> Context:
    """Render the shared sidebar; returns (and stores) the Context. ``principal``: who is signed in
    (``medviz.ui.signin.gate``, run by app.py before this). Stops the page with a clear message when the
    database cannot be opened."""
    path = data.db_path()
    try:
        store = data.store(path)
    except DatabaseInUse as e:
        st.error(f"**Database in use.** {md(e)}")
        st.stop()
    except MedvizError as e:
        st.error(md(e))
        st.info("Start the app with a database: `make run` builds the demo one, or set MEDVIZ_DB=/path/to/file.duckdb.")
        st.stop()
    ctx = Context(db_path=path, store=store, reviewer=principal)
    st.session_state[_KEY] = ctx
    benches = data.benchmarks(path)
    sb = st.sidebar
    sb.caption(f"Database: `{path}`")
    if benches.empty:
        from ..server import current as served
        if served() is not None:      # medviz serve owns the file: the CLI goes through it, `medviz demo` cannot
            sb.warning("No benchmark loaded. Load one on the **Data** page, or run `medviz ingest FILE` "
                       "(the command goes through this server).")
        else:
            sb.warning(f"No benchmark loaded. Run `medviz demo --db {path}` or `medviz ingest FILE --db {path}`.")
        return ctx
    benches = benches.assign(_o=benches["kind"].map(registry.kind_order)).sort_values(["_o", "benchmark_id"])
    ids = list(benches["benchmark_id"])
    qp = st.query_params
    if "benchmark" not in st.session_state or st.session_state["benchmark"] not in ids:
        st.session_state["benchmark"] = qp.get("b") if qp.get("b") in ids else ids[0]
    bench = sb.selectbox("Benchmark", ids, key="benchmark")
    row = benches.set_index("benchmark_id").loc[bench]
    ctx.benchmark_id, ctx.kind = bench, row["kind"]
    minfo = data.models(path, bench)
    ctx.model_info = minfo
    names = list(minfo["model"])
    mkey = models_key(bench)
    if mkey not in st.session_state:
        wanted = [m for m in qp.get_all("m") if m in names] if qp.get("b") == bench else []
        st.session_state[mkey] = wanted or names
    labels = {m: (m + " · synthetic" if s else m) for m, s in zip(minfo["model"], minfo["synthetic"])}
    chosen = sb.multiselect("Models", names, key=mkey, format_func=lambda m: labels.get(m, m),
                            help="Models marked synthetic are test data, not real model outputs.")
    ctx.models = tuple(chosen)
    if not names:
        sb.info(f"No predictions for {bench}. Import some: `medviz predictions import {bench} FILE --db {path}`.")
    # the URL carries the benchmark and models so a copied link opens the same view
    if qp.get("b") != bench:
        qp["b"] = bench
    if set(qp.get_all("m")) != set(chosen) and chosen != names:
        qp["m"] = list(chosen)
    elif chosen == names and "m" in qp:
        del qp["m"]
    return ctx
