"""The shared sidebar (database, benchmark, models, reviewer) and the ``Context`` every page reads.

``app.py`` calls ``sidebar()`` on every run before the page; pages call ``current()``. The benchmark and
model choice also go into the URL (``?b=...&m=...``) so a copied link opens the same view.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from .. import registry
from ..annotations import identity
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
    reviewer: object | None = None          # medviz.annotations.identity.Reviewer when known


def current() -> Context:
    """The Context app.py's ``sidebar()`` built in this run (every page runs through app.py's navigation)."""
    ctx = st.session_state.get(_KEY)
    if ctx is None:
        raise RuntimeError("a page ran without app.py's sidebar (run the app with `streamlit run app.py`)")
    return ctx


def _auth_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file at all
        return False


def _reviewer_widget():
    if _auth_configured():
        if not st.user.is_logged_in:
            st.sidebar.button("Sign in to annotate", on_click=st.login, key="signin")
            return None
        who = identity.reviewer_from_user(st.user)
        st.sidebar.caption(f"Signed in as **{who.display_name}** ({who.role})")
        st.sidebar.button("Sign out", on_click=st.logout, key="signout")
        return who
    name = st.session_state.get("reviewer_name_set")
    if name:
        who = identity.local_reviewer(name)
        st.sidebar.caption(f"Reviewer: **{name}** ({who.role})")
        if st.sidebar.button("Change reviewer", key="reviewer_change", icon=":material/person:"):
            del st.session_state["reviewer_name_set"]
            st.rerun()
        return who
    typed = st.sidebar.text_input("Your name (reviewer)", key="reviewer_name_input",
                                  placeholder="e.g. Dr A. Rivera", help="Recorded with every tag you save.")
    if typed:
        try:
            identity.local_reviewer(typed)
            st.session_state["reviewer_name_set"] = " ".join(typed.split())
            st.rerun()
        except MedvizError as e:
            st.sidebar.error(md(e))
    return None


def sidebar() -> Context:
    """Render the shared sidebar; returns (and stores) the Context. Stops the page with a clear message
    when the database cannot be opened."""
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
    ctx = Context(db_path=path, store=store)
    st.session_state[_KEY] = ctx
    benches = data.benchmarks(path)
    sb = st.sidebar
    sb.caption(f"Database: `{path}`")
    if benches.empty:
        sb.warning("No benchmark loaded. Run `medviz demo --db " + path + "` or `medviz ingest FILE --db " + path + "`.")
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
    mkey = f"models::{bench}"
    if mkey not in st.session_state:
        wanted = [m for m in qp.get_all("m") if m in names] if qp.get("b") == bench else []
        st.session_state[mkey] = wanted or names
    labels = {m: (m + " · synthetic" if s else m) for m, s in zip(minfo["model"], minfo["synthetic"])}
    chosen = sb.multiselect("Models", names, key=mkey, format_func=lambda m: labels.get(m, m),
                            help="Models marked synthetic are test data, not real model outputs.")
    ctx.models = tuple(chosen)
    if not names:
        sb.info(f"No predictions for {bench}. Import some: `medviz predictions import {bench} FILE --db {path}`.")
    sb.divider()
    ctx.reviewer = _reviewer_widget()
    # the URL carries the benchmark and models so a copied link opens the same view
    if qp.get("b") != bench:
        qp["b"] = bench
    if set(qp.get_all("m")) != set(chosen) and chosen != names:
        qp["m"] = list(chosen)
    elif chosen == names and "m" in qp:
        del qp["m"]
    return ctx
