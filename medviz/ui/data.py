"""The cached store and cached read queries.

One ``Store`` per database path lives in ``st.cache_resource`` (DuckDB allows one process per file; each
thread reads through ``store.cursor()``). Query results live in ``st.cache_data`` keyed by the database
path and their arguments; ``after_write()`` clears the ones that depend on annotations.
"""
from __future__ import annotations

import json
import threading

import pandas as pd
import streamlit as st

from .. import annotations, encoders, export
from ..readmodels import embeddings as rm_embeddings
from ..readmodels import errors as rm_errors
from ..readmodels import leaderboard as rm_leaderboard
from ..readmodels import review as rm_review
from ..readmodels import statistics as rm_statistics
from ..store import Store, core
from ..store import views as sqlv
from ..store.db import default_db_path


def db_path() -> str:
    return default_db_path()


@st.cache_resource(show_spinner=False)
def _store(path: str) -> Store:
    s = Store(path)
    from . import warmup
    warmup.start(path)          # the slow caches, in the background, once per process
    return s


def store(path: str | None = None) -> Store:
    """The process-wide store for ``path`` (default $MEDVIZ_DB); MedvizError when it cannot be opened.

    Under ``medviz serve`` this is the server's own store (one process, one store object)."""
    from ..server import served_store
    p = path or db_path()
    return served_store(p) or _store(p)


def warm_up(path: str) -> None:
    """Build the slow caches in the background (``medviz serve`` calls this at startup): ``warmup.start``."""
    from . import warmup
    warmup.start(path)


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


_GENERATION = {"n": 0, "all": 0}     # bumped after every write; part of the cache key of annotation-dependent
_UNIT_GENERATION: dict[tuple[str, str], int] = {}     # queries ("all": the last write not tied to units)
_GENERATION_LOCK = threading.Lock()     # two sessions saving at once must both bump it


def _ann_key(f: rm_errors.ErrorFilter) -> int:
    """0 for filters that ignore annotations (their cached results survive saves), else the generation."""
    return _GENERATION["n"] if f.uses_annotations() else 0


def error_unit_ids(path: str, benchmark_id: str, models: tuple[str, ...], filter_json: str) -> list[str]:
    f = rm_errors.ErrorFilter(**json.loads(filter_json))
    return _error_unit_ids(path, benchmark_id, models, filter_json, _ann_key(f))


@st.cache_data(show_spinner=False, max_entries=64)
def _error_unit_ids(path: str, benchmark_id: str, models: tuple[str, ...], filter_json: str, gen: int) -> list[str]:
    f = rm_errors.ErrorFilter(**json.loads(filter_json))
    return sqlv.error_unit_ids(store(path).cursor(), benchmark_id, list(models),
                               f.sql_filter(annotation_index(path, benchmark_id) if f.uses_annotations() else None))


@st.cache_data(show_spinner=False)
def leaderboard(path: str, benchmark_id: str, models: tuple[str, ...]) -> pd.DataFrame:
    return rm_leaderboard.leaderboard(store(path), benchmark_id, list(models))


def error_page(path: str, benchmark_id: str, models: tuple[str, ...], filter_json: str, page: int):
    # the page's rows carry tag columns, so every write makes a new page (one small query, no full index)
    return _error_page(path, benchmark_id, models, filter_json, page, _GENERATION["n"])


@st.cache_data(show_spinner=False, max_entries=256)
def _error_page(path: str, benchmark_id: str, models: tuple[str, ...], filter_json: str, page: int, gen: int):
    f = rm_errors.ErrorFilter(**json.loads(filter_json))
    return rm_errors.error_page(store(path), benchmark_id, list(models), f, page,
                                annotated=annotation_index(path, benchmark_id) if f.uses_annotations() else None)


@st.cache_data(show_spinner=False, max_entries=512)
def unit_view(path: str, benchmark_id: str, unit_id: str, models: tuple[str, ...]) -> rm_review.UnitView:
    return rm_review.unit_view(store(path), benchmark_id, unit_id, list(models))


@st.cache_data(show_spinner=False)
def annotation_index(path: str, benchmark_id: str) -> rm_errors.AnnotationIndex:
    return rm_errors.annotation_index(store(path), benchmark_id)


@st.cache_data(show_spinner=False)
def current_annotations(path: str, benchmark_id: str) -> pd.DataFrame:
    return annotations.current_annotations(store(path), benchmark_id)


@st.cache_data(show_spinner=False, max_entries=512)
def explanation(path: str, benchmark_id: str, pair_id: str, encoder_id: str):
    return encoders.explain_pair(store(path), benchmark_id, pair_id, encoder_id)


@st.cache_data(show_spinner=False)
def tagged_units(path: str, benchmark_id: str) -> set[str]:
    """Units with a current annotation (one query; building the full annotation index for this cost 10-18 ms
    of every save -> next pair)."""
    from ..store import annotations as asql
    return asql.tagged_unit_ids(store(path).cursor(), benchmark_id)


def after_write(units: tuple[tuple[str, str], ...] | None = None) -> None:
    """Clear every cached query that depends on annotations (call after each save); caches keyed by
    ``generation()`` miss from now on. ``units``: the (benchmark, unit) pairs the write touched, when the caller
    knows them (a save, undo or settle on the Review page): caches keyed by ``unit_generation`` then miss for
    those units only; without them (plan changes, bulk tags, API writes) every unit's key moves."""
    with _GENERATION_LOCK:
        _GENERATION["n"] += 1
        if units is None:
            _GENERATION["all"] = _GENERATION["n"]
        else:
            for u in units:
                _UNIT_GENERATION[u] = _GENERATION["n"]
            if len(_UNIT_GENERATION) > 100_000:        # bounded: forgetting only makes keys move everywhere
                _UNIT_GENERATION.clear()
                _GENERATION["all"] = _GENERATION["n"]
    for fn in (annotation_index, tagged_units, current_annotations):
        fn.clear()
    for fn in ANNOTATION_CACHES:
        fn.clear()


# cached functions elsewhere (Statistics, Export) that read annotations register here to be cleared too
ANNOTATION_CACHES: list = []


# --- Review page: the tagging form's reads, per write generation -------------------------------------------
# Keyed by a generation that ``after_write`` moves (every UI save / undo / settle / plan change and every API
# write calls it), never by time: a tag toggle or a page run after no write reads no database. The per-unit
# reads use ``unit_generation`` (a save moves its own unit's only), the reading plan ``plan_generation``.

def generation() -> int:
    return _GENERATION["n"]


def unit_generation(benchmark_id: str, unit_id: str) -> int:
    """The generation of the last write that may have changed what is known about one unit (its annotations,
    who may see them): the key of the per-unit reads below. A save on one pair leaves every other pair's key,
    so the prefetched reads of the next pair stay valid."""
    return max(_GENERATION["all"], _UNIT_GENERATION.get((benchmark_id, unit_id), 0))


def plan_generation() -> int:
    """The generation of the last write not tied to units (reading plans change only through such writes)."""
    return _GENERATION["all"]


@st.cache_data(show_spinner=False, max_entries=4)
def taxonomy(path: str):
    """The store's active taxonomy (``annotations.active_taxonomy``). Not keyed by the annotation generation:
    saves do not change it; publishing one (``POST /taxonomies``) clears every cached query
    (``server.app_data_changed("data")``)."""
    return annotations.active_taxonomy(store(path))


@st.cache_data(show_spinner=False, max_entries=32)
def reading_plan(path: str, benchmark_id: str, gen: int):
    from ..annotations import reading
    return reading.get_plan(store(path), benchmark_id)


@st.cache_data(show_spinner=False, max_entries=256)
def unit_annotations(path: str, benchmark_id: str, unit_id: str, gen: int) -> pd.DataFrame:
    """The current annotations on one pair / item (every reviewer), newest last."""
    return annotations.current_annotations(store(path), benchmark_id, target_id=unit_id)


@st.cache_data(show_spinner=False, max_entries=256)
def visible_annotations(path: str, benchmark_id: str, unit_id: str, _who, who_key: tuple, gen: int):
    """``reading.visible_annotations`` for the principal ``_who`` (``who_key``: its name and role); ``gen``:
    ``unit_generation`` of the unit."""
    from ..annotations import reading
    return reading.visible_annotations(store(path), benchmark_id, _who, unit_id,
                                       reading_plan(path, benchmark_id, plan_generation()))


def filter_json(f: rm_errors.ErrorFilter) -> str:
    d = {k: getattr(f, k) for k in rm_errors.ErrorFilter.__dataclass_fields__}
    return json.dumps(d, sort_keys=True)


# --- Statistics page (annotation-dependent: cleared after every save) ------------------------------------

@st.cache_data(show_spinner=False)
def failure_stats(path: str, benchmark_id: str, by: tuple, level: str, exclude_disputed: bool) -> pd.DataFrame:
    return annotations.failure_mode_stats(store(path), benchmark_id, by=list(by), level=level,
                                    exclude_disputed=exclude_disputed)


@st.cache_data(show_spinner=False)
def tag_trends(path: str, benchmark_id: str) -> pd.DataFrame:
    return rm_statistics.tag_trends(store(path), benchmark_id)


@st.cache_data(show_spinner=False)
def blind_vs_tags(path: str, benchmark_id: str) -> pd.DataFrame:
    return annotations.blind_vs_tags(store(path), benchmark_id)


@st.cache_data(show_spinner="Bootstrapping agreement intervals…")
def agreement(path: str, benchmark_id: str, modality: str | None = None, model: str | None = None,
              tag: str | None = None) -> dict:
    from ..annotations.agreement import unit_keys
    units = (unit_keys(store(path), benchmark_id, modality=modality, model=model, tag=tag)
             if modality or model or tag else None)
    return annotations.agreement(store(path), benchmark_id, units=units)


@st.cache_data(show_spinner=False)
def disagreement_queue(path: str, benchmark_id: str) -> pd.DataFrame:
    return annotations.disagreement_queue(store(path), benchmark_id)


@st.cache_data(show_spinner="Computing the 2-D map…", max_entries=8)
def embedding_map(path: str, benchmark_id: str, encoder_id: str, method: str) -> pd.DataFrame:
    return encoders.embedding_map(store(path), benchmark_id, encoder_id, method)


@st.cache_data(show_spinner=False, max_entries=8)
def encoder_similarities(path: str, benchmark_id: str) -> pd.DataFrame:
    return annotations.encoder_similarities(store(path), benchmark_id)


@st.cache_resource(show_spinner=False, max_entries=8)
def embedding_frame(path: str, benchmark_id: str, encoder_id: str, models: tuple, method: str,
                    gen: int) -> pd.DataFrame:
    """The Embeddings page's frame (one row per embedded image), one shared object per map and generation
    (``generation()``; tags colour it): as an ``st.cache_data`` copy, unpickling 20,000 rows cost ~0.1 s per
    visit. Callers must not modify it."""
    return rm_embeddings.embedding_frame(store(path), benchmark_id, encoder_id, list(models), method,
                                 map_frame=embedding_map(path, benchmark_id, encoder_id, method),
                                 similarities=encoder_similarities(path, benchmark_id))


@st.cache_data(show_spinner=False)
def computed_encoders(path: str, benchmark_id: str) -> list[str]:
    return list(encoders.computed_encoders(store(path), benchmark_id))


ANNOTATION_CACHES += [failure_stats, tag_trends, blind_vs_tags, agreement, disagreement_queue]


@st.cache_resource(show_spinner=False, max_entries=8)
def embedding_figure(path: str, benchmark_id: str, encoder_id: str, models: tuple, method: str, colour: str,
                     gen: int):
    """The Embeddings page's map (``charts.embedding_figure`` of the drawn sample of ``embedding_frame``), built
    once per map, colouring and annotation generation (tags colour it): building a 20,000-point plotly figure
    took 60-140 ms on every visit. Callers must not modify it."""
    from ..readmodels.embeddings import map_sample
    from . import charts
    return charts.embedding_figure(map_sample(embedding_frame(path, benchmark_id, encoder_id, models, method, gen)),
                                   colour)


@st.cache_data(show_spinner=False)
def neighbours(path: str, benchmark_id: str, encoder_id: str, item_id: str, k: int = 8) -> pd.DataFrame:
    return encoders.neighbours(store(path), benchmark_id, encoder_id, item_id, k)


@st.cache_data(show_spinner=False)
def item_paths(path: str, benchmark_id: str, item_ids: tuple) -> list:
    """Image paths in the order of ``item_ids`` (None where missing)."""
    rows = sqlv.item_rows(store(path).cursor(), benchmark_id, list(item_ids)).set_index("item_id")["image_path"]
    return [rows.get(i) for i in item_ids]


@st.cache_data(show_spinner=False, max_entries=64)
def list_unit_ids(path: str, benchmark_id: str, items: tuple) -> list[str]:
    """The units of a Review list (``medviz.readmodels.lists``) given as ``ReviewList.items()``."""
    from ..readmodels.lists import ReviewList
    rl = ReviewList.from_items(items)
    return [] if rl is None else rl.unit_ids(store(path), benchmark_id)


ANNOTATION_CACHES.append(list_unit_ids)        # tag / reviewer filters read annotations


@st.cache_data(show_spinner=False, max_entries=32)
def compare_models(path: str, benchmark_id: str, model_a: str, model_b: str, by: str) -> pd.DataFrame:
    from ..readmodels.compare import compare_models as cm
    return cm(store(path), benchmark_id, model_a, model_b, by)


# --- Export page ---------------------------------------------------------------------------------------------

@st.cache_data(show_spinner=False)
def export_bytes(path: str, fmt: str, kw: tuple) -> bytes:
    return export.export_annotations(store(path), None, fmt=fmt, **dict(kw))


@st.cache_data(show_spinner=False)
def export_preview(path: str, kw: tuple) -> pd.DataFrame:
    import io
    raw = export_bytes(path, "csv", kw)
    if not raw.strip():
        return pd.DataFrame()
    return pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)


def export_rows(path: str, kw: tuple) -> int:
    return len(export_preview(path, kw))


ANNOTATION_CACHES += [export_bytes, export_preview]
