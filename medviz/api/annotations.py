"""Annotations, taxonomies and tokens over HTTP. The author of every write is the authenticated principal
(never a name in the body); the annotation domain checks what that principal may do."""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, Field

from .. import auth
from ..annotations.model import MAX_RATIONALE
from ..annotations.writer import get_writer
from ..errors import MedvizError
from ..server import app_data_changed
from . import deps
from .errors import not_found
from .routes import _benchmark, jsonable, records

router = APIRouter()
MAX_TAGS = 50


class AnnotationOut(BaseModel):
    annotation_id: str
    revision: int
    benchmark_id: str
    target_type: str
    target_id: str
    model: str | None = None
    tags: list[str]
    rationale: str = ""
    confidence: int
    reviewer: str
    proposed_answer: str | None = None
    taxonomy_version: str | None = None
    kind: str = "annotation"
    settles: list[str] = []
    retracted: bool = False
    created_at: str | None = None
    updated_at: str | None = None


class AnnotationIn(BaseModel):
    target_type: Literal["pair", "item"]
    target_id: str = Field(..., min_length=1, max_length=500)
    tags: list[str] = Field(..., max_length=MAX_TAGS)
    model: str | None = Field(None, max_length=200, description="null: the judgement holds for all models")
    rationale: str = Field("", max_length=MAX_RATIONALE)
    confidence: int = Field(3, ge=1, le=5)
    proposed_answer: str | None = Field(None, max_length=200)
    taxonomy_version: str | None = Field(None, max_length=100)
    kind: Literal["annotation", "adjudication"] = "annotation"
    settles: list[str] = Field([], max_length=100, description="adjudications: the annotation ids they settle")


class RevisionIn(BaseModel):
    revision: int = Field(..., ge=1, description="the revision you edited (409 when it is no longer current)")
    tags: list[str] | None = Field(None, max_length=MAX_TAGS)
    model: str | None = Field(None, max_length=200)
    rationale: str | None = Field(None, max_length=MAX_RATIONALE)
    confidence: int | None = Field(None, ge=1, le=5)
    proposed_answer: str | None = Field(None, max_length=200)


def _out(a) -> dict:
    return jsonable(a.to_dict())


@router.get("/benchmarks/{benchmark_id}/annotations", response_model=list[AnnotationOut],
            summary="Current annotations of a benchmark (latest revision of each; retracted ones left out)")
def list_annotations(request: Request, benchmark_id: str, model: str | None = Query(None, max_length=200),
                     reviewer: str | None = Query(None, max_length=200),
                     target_id: str | None = Query(None, max_length=500), who=Depends(deps.reader)):
    from ..annotations import current_annotations
    _benchmark(request, benchmark_id)
    df = current_annotations(deps.state(request).store, benchmark_id, model=model, reviewer=reviewer,
                             target_id=target_id)
    return records(df[[c for c in AnnotationOut.model_fields if c in df.columns]])


@router.post("/benchmarks/{benchmark_id}/annotations", status_code=201, response_model=AnnotationOut,
             summary="Add an annotation (or, for adjudicators, an adjudication) as the signed-in principal")
def add_annotation(request: Request, benchmark_id: str, body: AnnotationIn, who=Depends(deps.actor)):
    from ..annotations import Annotation
    _benchmark(request, benchmark_id)
    a = Annotation(benchmark_id=benchmark_id, target_type=body.target_type, target_id=body.target_id,
                   tags=list(body.tags), reviewer=who.name, model=body.model, rationale=body.rationale,
                   confidence=body.confidence, proposed_answer=body.proposed_answer,
                   taxonomy_version=body.taxonomy_version, kind=body.kind, settles=list(body.settles))
    w = get_writer(deps.state(request).store)
    saved = w.adjudicate(a, who, settles=list(body.settles)) if body.kind == "adjudication" else w.save(a, who)
    app_data_changed("annotations")
    return _out(saved)


def _current(request: Request, annotation_id: str):
    from ..annotations import Annotation, history
    h = history(deps.state(request).store, annotation_id)
    if h.empty:
        raise not_found(f"no annotation '{annotation_id}'", record=annotation_id, field="annotation_id")
    return Annotation.from_row(h.iloc[-1])


@router.post("/annotations/{annotation_id}/revisions", status_code=201, response_model=AnnotationOut,
             summary="Revise your annotation: the fields you send change, the rest stay (only its author may)")
def revise(request: Request, annotation_id: str, body: RevisionIn, who=Depends(deps.actor)):
    cur = _current(request, annotation_id)
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if k != "revision"}
    a = cur.edit(**changes, revision=body.revision)
    saved = get_writer(deps.state(request).store).save(a, who)
    app_data_changed("annotations")
    return _out(saved)


@router.post("/annotations/{annotation_id}/retract", response_model=AnnotationOut,
             summary="Retract your annotation (a new revision; the history keeps it)")
def retract(request: Request, annotation_id: str, who=Depends(deps.actor)):
    _current(request, annotation_id)
    saved = get_writer(deps.state(request).store).retract(annotation_id, who)
    app_data_changed("annotations")
    return _out(saved)


@router.get("/benchmarks/{benchmark_id}/annotations.csv", summary="The annotation export (CSV, one row per tag)",
            responses={200: {"content": {"text/csv": {}}}})
def annotations_csv(request: Request, benchmark_id: str, model: str | None = Query(None, max_length=200),
                    who=Depends(deps.reader)):
    from ..export import export_annotations
    _benchmark(request, benchmark_id)
    data = export_annotations(deps.state(request).store, None, fmt="csv", benchmark_id=benchmark_id, model=model)
    return Response(data, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{benchmark_id}-annotations.csv"'})


class ImportOut(BaseModel):
    imported: int
    imported_by: str


@router.post("/annotations/import", status_code=201, response_model=ImportOut,
             summary="Restore an annotation export (CSV or Parquet), all or nothing; authors other than you are "
                     "kept only for admins, and who imported is recorded")
async def import_annotations(request: Request, file: UploadFile = File(...), who=Depends(deps.actor),
                             _len=Depends(deps.check_length)):
    import os
    import shutil
    import uuid
    from ..export import import_annotations as restore
    folder = os.path.join(deps.state(request).store.files_dir, "uploads", uuid.uuid4().hex[:12])
    path = await deps.save_upload(request, file, folder)
    try:
        n = await run_in_threadpool(restore, deps.state(request).store, path, by=who)
    except MedvizError as e:
        e.file = file.filename          # name the user's file, not the server's copy of it
        raise
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    app_data_changed("annotations")
    return {"imported": n, "imported_by": who.name}


# --- taxonomy ----------------------------------------------------------------------------------------------

class TaxonomyIn(BaseModel):
    toml: str = Field(..., max_length=200_000, description="the taxonomy file's text, with a new version")


@router.post("/taxonomies", status_code=201, summary="Publish a new taxonomy version (admins)")
def publish_taxonomy(request: Request, body: TaxonomyIn, who=Depends(deps.actor)) -> dict:
    from ..annotations import publish_taxonomy as publish, taxonomy_from_text
    tax = taxonomy_from_text(body.toml)
    t = publish(deps.state(request).store, tax, who)
    app_data_changed("data")
    return {"version": t.version}


# --- tokens (admins) --------------------------------------------------------------------------------------

class TokenIn(BaseModel):
    user: str = Field(..., min_length=1, max_length=120)
    role: Literal["reviewer", "adjudicator", "admin"] = "reviewer"


class TokenCreated(BaseModel):
    token_id: str
    user: str
    role: str
    token: str = Field(description="shown once; only its hash is stored")


@router.get("/tokens", summary="API tokens (never the secret) -- admins")
def list_tokens(request: Request, who=Depends(deps.actor)) -> list[dict]:
    return records(auth.list_tokens(deps.state(request).store, by=who))


@router.post("/tokens", status_code=201, response_model=TokenCreated, summary="Create an API token -- admins")
def create_token(request: Request, body: TokenIn, who=Depends(deps.actor)):
    tok = auth.create_token(deps.state(request).store, body.user, body.role, by=who)
    return {"token_id": auth.token_id_of(tok), "user": body.user, "role": body.role, "token": tok}


@router.post("/tokens/{token_id}/revoke", summary="Revoke an API token -- admins")
def revoke_token(request: Request, token_id: str, who=Depends(deps.actor)) -> dict:
    try:
        auth.revoke_token(deps.state(request).store, token_id, by=who)
    except auth.Forbidden:
        raise
    except MedvizError as e:
        if "no token" in e.detail:
            raise not_found(e.detail, record=token_id, field="token_id") from None
        raise
    return {"token_id": token_id, "revoked": True}
