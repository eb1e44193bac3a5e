"""The cached store and cached read queries.

One ``Store`` per database path lives in ``st.cache_resource`` (DuckDB allows one process per file; each
thread reads through ``store.cursor()``). Query results live in ``st.cache_data`` keyed by the database
path and their arguments; ``after_write()`` clears the ones that depend on annotations.
"""
from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from .. import views
from ..store import Store, core
from ..store import views as sqlv
from ..store.db import default_db_path


def db_path() -> str:
    return default_db_path()


@st.cache_resource(show_spinner=False)
def _store(path: str) -> Store:
    return Store(path)


def store(path: str | None = None) -> Store:
    """The process-wide store for ``path`` (default $MEDVIZ_DB); MedvizError when it cannot be opened."""
    return _store(path or db_path())


@st.cache_data(show_spinner=False)
def benchmarks(path: str) -> pd.DataFrame:
    return core.benchmarks(store(path).cursor())


@st.cache_data(show_spinner=False)
def models(path: str, benchmark_id: str) -> pd.DataFrame:
    return core.models(store(path).cursor(), benchmark_id)


@st.cache_data(show_spinner=False)
def facets(path: str, benchmark_id: str) -> dict:
    return sqlv.facets(store(path).cursor(), benchmark_id)


@st.cache_data(show_spinner=False)
def sim_ranges(path: str, benchmark_id: str) -> dict:
    return sqlv.sim_ranges(store(path).cursor(), benchmark_id)


@st.cache_data(show_spinner=False)
def unit_ids(path: str, benchmark_id: str) -> list[str]:
    return sqlv.unit_ids(store(path).cursor(), benchmark_id)


@st.cache_data(show_spinner=False)
def error_unit_ids(path: str, benchmark_id: str, models: tuple[str, ...], filter_json: str) -> list[str]:
    f = views.ErrorFilter(**json.loads(filter_json))
    return sqlv.error_unit_ids(store(path).cursor(), benchmark_id, list(models),
                               f.sql_filter(annotation_index(path, benchmark_id)))


@st.cache_data(show_spinner=False)
def leaderboard(path: str, benchmark_id: str, models: tuple[str, ...]) -> pd.DataFrame:
    return views.leaderboard(store(path), benchmark_id, list(models))


@st.cache_data(show_spinner=False)
def error_page(path: str, benchmark_id: str, models: tuple[str, ...], filter_json: str, page: int):
    f = views.ErrorFilter(**json.loads(filter_json))
    return views.error_page(store(path), benchmark_id, list(models), f, page,
                            annotated=annotation_index(path, benchmark_id))


@st.cache_data(show_spinner=False)
def unit_view(path: str, benchmark_id: str, unit_id: str, models: tuple[str, ...]) -> views.UnitView:
    return views.unit_view(store(path), benchmark_id, unit_id, list(models))


@st.cache_data(show_spinner=False)
def annotation_index(path: str, benchmark_id: str) -> views.AnnotationIndex:
    return views.annotation_index(store(path), benchmark_id)


@st.cache_data(show_spinner=False)
def tagged_units(path: str, benchmark_id: str) -> set[str]:
    return annotation_index(path, benchmark_id).units_with([], [])


def after_write() -> None:
    """Clear every cached query that depends on annotations (call after each save)."""
    for fn in (annotation_index, tagged_units, error_page, error_unit_ids):
        fn.clear()
    for fn in ANNOTATION_CACHES:
        fn.clear()


# cached functions elsewhere (Statistics, Export) that read annotations register here to be cleared too
ANNOTATION_CACHES: list = []


def filter_json(f: views.ErrorFilter) -> str:
    d = {k: getattr(f, k) for k in views.ErrorFilter.__dataclass_fields__}
    return json.dumps(d, sort_keys=True)
