"""Jobs (ingest, prediction import, embeddings, export: queued, followed, cancelled, downloaded) and
embeddings computed elsewhere (a GPU machine asks what is missing and pushes vectors): routes of /api/v1.
"""
from __future__ import annotations

import io
import os
from typing import Literal

import numpy as np
from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field

from .. import auth
from ..errors import MedvizError
from . import deps
from .errors import ApiError, not_found

from .routes import _benchmark, jsonable

router = APIRouter()


# --- jobs --------------------------------------------------------------------------------------------------

class JobProgress(BaseModel):
    done: int
    total: int | None = None
    rate: float | None = None


class JobOut(BaseModel):
    job_id: str
    kind: str
    state: Literal["queued", "running", "done", "failed", "cancelled"]
    params: dict
    created_by: str | None = None
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    progress: JobProgress
    log: list[str]
    result: dict | None = None
    error: str | None = None


def _job_or_404(request: Request, job_id: str) -> dict:
    j = deps.state(request).jobs.get(job_id)
    if j is None:
        raise not_found(f"no job '{job_id}'", record=job_id, field="job_id")
    return j


def _job_reply(j: dict) -> JSONResponse:
    return JSONResponse(jsonable(j), status_code=202, headers={"Location": f"/api/v1/jobs/{j['job_id']}"})


def _public_params(params: dict) -> dict:
    return {k: v for k, v in params.items() if k not in ("path", "result_path") or not params.get("uploaded")}


@router.get("/jobs", response_model=list[JobOut], summary="Recent jobs, newest first")
def list_jobs(request: Request, kind: Literal["ingest", "predictions", "embed", "export"] | None = None,
              limit: int = Query(50, ge=1, le=500), who=Depends(deps.reader)):
    return [dict(j, params=_public_params(j["params"])) for j in deps.state(request).jobs.list(limit, kind)]


@router.get("/jobs/{job_id}", response_model=JobOut, summary="A job's state, progress, log and result")
def get_job(request: Request, job_id: str, who=Depends(deps.reader)):
    j = _job_or_404(request, job_id)
    return dict(j, params=_public_params(j["params"]))


@router.post("/jobs/{job_id}/cancel", response_model=JobOut, summary="Cancel a queued or running job")
def cancel_job(request: Request, job_id: str, who=Depends(deps.actor)):
    _job_or_404(request, job_id)
    j = deps.state(request).jobs.cancel(job_id)
    return dict(j, params=_public_params(j["params"]))


@router.get("/jobs/{job_id}/download", summary="The file an export job wrote",
            responses={200: {"content": {"text/csv": {}, "application/octet-stream": {}}}})
def download_job(request: Request, job_id: str, who=Depends(deps.reader)):
    j = _job_or_404(request, job_id)
    if j["kind"] != "export" or j["state"] != "done" or not j["result"]:
        raise ApiError(409, "only a finished export job has a file to download", record=job_id, field="job_id")
    path = j["result"]["path"]
    if not os.path.exists(path):
        raise not_found("the export file is gone", record=job_id)
    media = "text/csv" if path.endswith(".csv") else "application/octet-stream"
    return FileResponse(path, media_type=media, filename=os.path.basename(path))


def _upload_dir(request: Request) -> str:
    return os.path.join(deps.state(request).store.files_dir, "uploads")


_JOB_REPLY = {202: {"model": JobOut, "description": "the job was queued; poll GET /jobs/{job_id}"}}


@router.post("/benchmarks", status_code=202, response_model=JobOut, responses=_JOB_REPLY,
             summary="Ingest a benchmark (a path on the server, or an uploaded file) -> a job")
async def ingest(request: Request, file: UploadFile | None = File(None), path: str | None = Form(None),
                 kind: Literal["mediconfusion", "gmai", "generic"] | None = Form(None),
                 benchmark_id: str | None = Form(None, max_length=200),
                 images_dir: str | None = Form(None, max_length=4096),
                 who=Depends(deps.actor), _len=Depends(deps.check_length)):
    if (file is None) == (not path):
        raise MedvizError("send either an uploaded 'file' or a server 'path' (one of them)", field="file")
    s = deps.state(request)
    if images_dir and who.source != "local" and not who.is_admin:
        raise auth.Forbidden("only admins may point the server at an images folder on it", field="images_dir")
    params = {"kind": kind, "benchmark_id": benchmark_id or None, "images_dir": images_dir or None}
    if file is not None:
        import uuid
        params.update(path=await deps.save_upload(request, file, os.path.join(_upload_dir(request),
                                                                              uuid.uuid4().hex[:12])),
                      uploaded=True, filename=file.filename)
    else:
        if who.source != "local" and not who.is_admin:   # reading server files by path: admins (or local mode)
            raise auth.Forbidden("only admins may ingest a file by its path on the server; upload it instead",
                                 field="path")
        if len(path) > 4096:
            raise MedvizError("path is too long", field="path")
        if not os.path.exists(path):
            raise MedvizError("no such file on the server", file=path, field="path")
        params["path"] = path
    return _job_reply(s.jobs.get(s.jobs.submit("ingest", params, who.name)))


@router.post("/benchmarks/{benchmark_id}/predictions", status_code=202, response_model=JobOut,
             responses=_JOB_REPLY,
             summary="Import a prediction file (MediConfusion results JSON, VLMEvalKit xlsx/tsv/json, generic) -> a job")
async def import_predictions(request: Request, benchmark_id: str, file: UploadFile = File(...),
                             result: UploadFile | None = File(
                                 None, description="VLMEvalKit judged *_result.xlsx (hit/log columns) for this file"),
                             model: str | None = Form(None, max_length=200),
                             format: Literal["mediconfusion", "vlmevalkit", "generic"] | None = Form(None),
                             synthetic: bool = Form(False),
                             tr: float | None = Form(None, gt=0, le=10,
                                                     description="MediConfusion judge threshold (official --tr)"),
                             who=Depends(deps.actor), _len=Depends(deps.check_length)):
    import uuid
    s = deps.state(request)
    _benchmark(request, benchmark_id)
    folder = os.path.join(_upload_dir(request), uuid.uuid4().hex[:12])
    path = await deps.save_upload(request, file, folder)
    result_path = None
    if result is not None and result.filename:
        result_path = await deps.save_upload(request, result, os.path.join(folder, "result"))
    params = {"benchmark_id": benchmark_id, "path": path, "uploaded": True, "filename": file.filename,
              "model": model or None, "format": format, "synthetic": synthetic, "tr": tr,
              "result_path": result_path, "result_filename": result.filename if result_path else None}
    return _job_reply(s.jobs.get(s.jobs.submit("predictions", params, who.name)))


class EmbedRequest(BaseModel):
    encoder: str = Field("pixels", max_length=200)
    device: str | None = Field(None, max_length=20)
    batch_size: int | None = Field(None, ge=1, le=4096)
    probe: bool = Field(False, description="also store the encoder's zero-shot choices as a model (needs a text "
                                           "tower; scored like any other model, labelled an encoder probe)")
    exact_decode: bool = Field(False, description="decode JPEGs at full size (default: the server's "
                                                  "MEDVIZ_EXACT_DECODE; JPEG draft decoding is faster and its "
                                                  "vectors are cached apart)")


@router.post("/benchmarks/{benchmark_id}/embeddings", status_code=202, response_model=JobOut,
             responses=_JOB_REPLY, summary="Compute an encoder's embeddings on the server -> a job")
def embed(request: Request, benchmark_id: str, req: EmbedRequest, who=Depends(deps.actor)):
    s = deps.state(request)
    _benchmark(request, benchmark_id)
    params = {"benchmark_id": benchmark_id, "encoder": req.encoder, "device": req.device,
              "batch_size": req.batch_size, "probe": req.probe, "exact_decode": req.exact_decode}
    return _job_reply(s.jobs.get(s.jobs.submit("embed", params, who.name)))


class ExportRequest(BaseModel):
    format: Literal["csv", "parquet"] = "csv"
    model: str | None = Field(None, max_length=200)
    modality: str | None = Field(None, max_length=200)


@router.post("/benchmarks/{benchmark_id}/exports", status_code=202, response_model=JobOut,
             responses=_JOB_REPLY, summary="Export the benchmark's annotations to a file -> a job")
def export(request: Request, benchmark_id: str, req: ExportRequest, who=Depends(deps.actor)):
    s = deps.state(request)
    _benchmark(request, benchmark_id)
    params = {"benchmark_id": benchmark_id, "format": req.format, "model": req.model, "modality": req.modality}
    return _job_reply(s.jobs.get(s.jobs.submit("export", params, who.name)))


# --- embeddings computed elsewhere -------------------------------------------------------------------------

DECODE_PATTERN = r"^(exact|unknown|draft:[0-9]+(\.[0-9]+)?)$"
_DECODE_HELP = ("how the worker decoded the images: 'exact' or 'draft:<gap>' (JPEG draft decoding, "
                "medviz.encoders.prep); part of a vector's key. Left out: 'unknown' (a client that does not say)")


@router.get("/embeddings/{encoder_id}/missing",
            summary="Image sha256s of a benchmark that have no vector yet for this encoder + weights digest "
                    "+ decode mode")
def missing_embeddings(request: Request, encoder_id: str, benchmark_id: str = Query(..., max_length=200),
                       weights_digest: str = Query(..., min_length=1, max_length=200),
                       decode: str = Query("unknown", max_length=40, pattern=DECODE_PATTERN,
                                           description=_DECODE_HELP),
                       who=Depends(deps.reader)) -> dict:
    from ..store import embeddings as esql
    _benchmark(request, benchmark_id)
    todo = esql.embedding_todo(deps.state(request).store.cursor(), benchmark_id, encoder_id, weights_digest,
                               decode=decode)
    has = todo["image_sha256"].notna()
    need = todo[has & ~todo["cached"].fillna(False).astype(bool)]
    from ..encoders.maps import map_status
    return {"benchmark_id": benchmark_id, "encoder_id": encoder_id, "weights_digest": weights_digest,
            "decode": decode, "images": int(has.sum()), "missing": sorted(need["image_sha256"].astype(str)),
            "map": map_status(deps.state(request).store, benchmark_id, encoder_id)}


class EmbeddingsPut(BaseModel):
    encoder_id: str
    weights_digest: str
    decode: str
    received: int
    added: int
    map_refresh: bool = Field(False, description="the benchmark's stored 2-D map is being redrawn from the "
                                                  "vectors (in the background, through the one writer)")


def read_vectors(data: bytes, filename: str = "upload") -> tuple[list[str], np.ndarray, str | None]:
    """An Arrow IPC (file or stream) or Parquet table with ``image_sha256`` and ``vector`` columns (and
    optionally ``weights_digest``) -> hashes, an (n, dim) float32 array, the digest in the table."""
    import pyarrow as pa
    import pyarrow.ipc as ipc
    import pyarrow.parquet as pq
    table = None
    try:
        if data[:4] == b"PAR1":
            table = pq.read_table(io.BytesIO(data))
        elif data[:6] == b"ARROW1":
            table = ipc.open_file(pa.BufferReader(data)).read_all()
        else:
            table = ipc.open_stream(pa.BufferReader(data)).read_all()
    except (pa.ArrowInvalid, OSError, ValueError) as e:
        raise MedvizError(f"not an Arrow IPC or Parquet table ({e})", file=filename) from None
    for col in ("image_sha256", "vector"):
        if col not in table.column_names:
            raise MedvizError(f"missing column '{col}' (columns: image_sha256, vector[, weights_digest])",
                              file=filename, field=col)
    hashes = [str(h) if h is not None else "" for h in table.column("image_sha256").to_pylist()]
    for i, h in enumerate(hashes):
        if len(h) != 64 or any(c not in "0123456789abcdef" for c in h):
            raise MedvizError("not a lower-case hex sha256", file=filename, record=f"row {i + 1}",
                              field="image_sha256")
    vec_col = table.column("vector").combine_chunks()
    try:
        lengths = {len(v) for v in vec_col.to_pylist() if v is not None}
        if None in vec_col.to_pylist() or len(lengths) != 1:
            raise ValueError("every vector must be present and of one length")
        vecs = np.asarray(vec_col.to_pylist(), dtype=np.float32)
    except (ValueError, TypeError) as e:
        raise MedvizError(f"vectors must be lists of numbers of one length ({e})", file=filename,
                          field="vector") from None
    if vecs.ndim != 2 or vecs.shape[1] == 0 or vecs.shape[1] > 65536:
        raise MedvizError("vectors must have 1..65536 dimensions", file=filename, field="vector")
    if not np.isfinite(vecs).all():
        raise MedvizError("vectors contain NaN or infinite values", file=filename, field="vector")
    digest = None
    if "weights_digest" in table.column_names:
        ds = set(table.column("weights_digest").to_pylist())
        if len(ds) != 1 or not isinstance(next(iter(ds)), str):
            raise MedvizError("one weights_digest per upload", file=filename, field="weights_digest")
        digest = next(iter(ds))
    return hashes, vecs, digest


@router.put("/embeddings/{encoder_id}", response_model=EmbeddingsPut,
            summary="Add vectors computed elsewhere (Arrow IPC or Parquet body: image_sha256, vector; "
                    "weights digest in the table or the weights_digest query parameter)",
            openapi_extra={"requestBody": {"required": True, "content": {
                "application/vnd.apache.arrow.stream": {"schema": {"type": "string", "format": "binary"}},
                "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
async def put_embeddings(request: Request, encoder_id: str,
                         weights_digest: str | None = Query(None, min_length=1, max_length=200),
                         decode: str = Query("unknown", max_length=40, pattern=DECODE_PATTERN,
                                             description=_DECODE_HELP),
                         benchmark_id: str | None = Query(None, max_length=200),
                         device: str | None = Query(None, max_length=40),
                         who=Depends(deps.actor), _len=Depends(deps.check_length)):
    from ..jobs import execute_write
    from ..store import embeddings as esql
    s = deps.state(request)
    if not encoder_id.strip() or len(encoder_id) > 200:
        raise MedvizError("encoder id must be 1..200 characters", field="encoder_id")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > s.max_upload_bytes:
            raise ApiError(413, f"upload is larger than this server's limit of {s.max_upload_bytes:,} bytes",
                           field="body")
    hashes, vecs, digest = read_vectors(bytes(data), f"PUT /embeddings/{encoder_id}")
    digest = digest or weights_digest
    if weights_digest and digest != weights_digest:
        raise MedvizError("the table's weights_digest differs from the query's", field="weights_digest")
    if not digest:
        raise MedvizError("say which weights made these vectors: a weights_digest column or query parameter",
                          field="weights_digest")
    if benchmark_id is not None:
        _benchmark(request, benchmark_id)

    def write(tx):
        added = esql.insert_embeddings(tx, encoder_id, digest, hashes, vecs, decode=decode) if hashes else 0
        if benchmark_id is not None:
            esql.record_run(tx, benchmark_id, encoder_id, digest, decode=decode, source=f"pushed by {who.name}",
                            device=device or "remote", n_new=added, n_cached=len(hashes) - added, n_missing=0,
                            n_failed=0, images_per_s=None)
        return added
    added = execute_write(s.store, write)
    from ..server import app_data_changed
    app_data_changed("data")
    refresh = False
    if added:       # the stored 2-D maps drawn from these images are stale: redraw them once the pushes stop
        from ..encoders.maps import schedule_refresh
        for bid in [benchmark_id] if benchmark_id is not None else esql.benchmarks_with_images(s.store.cursor(),
                                                                                               hashes):
            schedule_refresh(s.store, bid, encoder_id, on_done=lambda: app_data_changed("data"))
            refresh = True
    return {"encoder_id": encoder_id, "weights_digest": digest, "decode": decode, "received": len(hashes),
            "added": int(added), "map_refresh": refresh}
