"""Health, benchmarks, models, scores, errors and review units: the read routes of /api/v1.

Routes only: each calls a read model (``medviz.readmodels``), the job runner or the domain, and shapes JSON.
"""
from __future__ import annotations

import math
import os
from datetime import date, datetime
from typing import Literal

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from .. import auth
from ..errors import MedvizError
from ..store import core
from . import deps
from .errors import not_found

router = APIRouter()
MAX_PAGE_SIZE = 500
MAX_TEXT = 500


# --- JSON ------------------------------------------------------------------------------------------------

def jsonable(v):
    """Plain JSON values: NaN/NA -> null, numpy scalars and arrays -> numbers and lists, times -> ISO text."""
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set)):
        return [jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return [jsonable(x) for x in v.tolist()]
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(v, (pd.Timestamp, datetime, date)):
        return None if pd.isna(v) else v.isoformat()
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    return v


def records(df: pd.DataFrame) -> list[dict]:
    return [jsonable(r) for r in df.to_dict(orient="records")]


def _benchmark(request: Request, benchmark_id: str) -> dict:
    b = core.benchmark(deps.state(request).store.cursor(), benchmark_id)
    if b is None:
        raise not_found(f"benchmark '{benchmark_id}' is not in the store", record=benchmark_id, field="benchmark_id")
    return b


# --- health ----------------------------------------------------------------------------------------------

class Health(BaseModel):
    status: Literal["ok"]
    mode: str = Field(description="local | tokens | oidc")
    db: str
    version: str


@router.get("/health", response_model=Health, summary="Is the server up; which sign-in mode it runs in")
def health(request: Request):
    from .. import __version__
    s = deps.state(request)
    return {"status": "ok", "mode": auth.auth_mode(s.secrets, s.host, s.store), "db": os.path.basename(s.db_path),
            "version": __version__}


# --- benchmarks, models, scores --------------------------------------------------------------------------

@router.get("/benchmarks", summary="Benchmarks in the store with item and pair counts")
def list_benchmarks(request: Request, who=Depends(deps.reader)) -> list[dict]:
    return records(core.benchmarks(deps.state(request).store.cursor()))


@router.get("/benchmarks/{benchmark_id}/models", summary="Models with predictions for a benchmark")
def list_models(request: Request, benchmark_id: str, who=Depends(deps.reader)) -> list[dict]:
    _benchmark(request, benchmark_id)
    return records(core.models(deps.state(request).store.cursor(), benchmark_id))


@router.get("/benchmarks/{benchmark_id}/scores",
            summary="Official metrics per model: the same JSON as `medviz scores BENCHMARK --json`")
def scores(request: Request, benchmark_id: str, model: list[str] | None = Query(None, max_length=100),
           who=Depends(deps.reader)) -> dict:
    from ..evaluate import score_store
    _benchmark(request, benchmark_id)
    return jsonable(score_store(deps.state(request).store, benchmark_id, model or None))


# --- errors and review units -----------------------------------------------------------------------------

@router.get("/benchmarks/{benchmark_id}/errors",
            summary="The Errors table: the app's filter as query parameters, one page of (unit, model) rows")
def errors(request: Request, benchmark_id: str,
           model: list[str] | None = Query(None, max_length=100),
           outcome: Literal["error", "correct", "wrong", "confused", "invalid", "all"] = "error",
           modalities: list[str] | None = Query(None, max_length=100),
           categories: list[str] | None = Query(None, max_length=100),
           departments: list[str] | None = Query(None, max_length=100),
           tags: list[str] | None = Query(None, max_length=100),
           reviewers: list[str] | None = Query(None, max_length=100),
           tagged: Literal["tagged", "untagged"] | None = None,
           biomedclip_sim_min: float | None = Query(None, ge=-1, le=1),
           biomedclip_sim_max: float | None = Query(None, ge=-1, le=1),
           dino_sim_min: float | None = Query(None, ge=-1, le=1),
           dino_sim_max: float | None = Query(None, ge=-1, le=1),
           q: str = Query("", max_length=MAX_TEXT),
           page: int = Query(0, ge=0, le=1_000_000), page_size: int = Query(48, ge=1, le=MAX_PAGE_SIZE),
           who=Depends(deps.reader)) -> dict:
    from ..readmodels import errors as rm
    _benchmark(request, benchmark_id)
    store = deps.state(request).store
    f = rm.ErrorFilter(outcome=None if outcome == "all" else outcome, modalities=modalities or [],
                          categories=categories or [], departments=departments or [], tags=tags or [],
                          reviewers=reviewers or [], tagged=tagged, biomedclip_sim_min=biomedclip_sim_min,
                          biomedclip_sim_max=biomedclip_sim_max, dino_sim_min=dino_sim_min,
                          dino_sim_max=dino_sim_max, search=q)
    annotated = rm.annotation_index(store, benchmark_id) if (f.tags or f.reviewers or f.tagged) else None
    rows, counts = rm.error_page(store, benchmark_id, model or None, f, page, annotated, page_size=page_size)
    return {"counts": jsonable(counts), "page": counts["page"], "pages": counts["pages"], "page_size": page_size,
            "rows": records(rows)}


@router.get("/benchmarks/{benchmark_id}/units/{unit_id}",
            summary="What the Review page shows for a pair or item: questions, images, every model's answers")
def unit(request: Request, benchmark_id: str, unit_id: str, model: list[str] | None = Query(None, max_length=100),
         who=Depends(deps.reader)) -> dict:
    from dataclasses import asdict

    from ..readmodels import review as rm
    _benchmark(request, benchmark_id)
    try:
        uv = rm.unit_view(deps.state(request).store, benchmark_id, unit_id, model or None)
    except MedvizError as e:
        raise not_found(e.detail, record=unit_id, field="unit_id") from None
    out = jsonable(asdict(uv))
    for s in out["slots"]:          # where the image is on the server is not the client's business
        s.pop("image_path", None)
    out["confused_models"] = uv.confused_models()
    return out
