"""Background jobs: ingest a benchmark, import predictions, compute embeddings, export annotations.

``JobRunner(store)`` belongs to the process that owns the store (``medviz serve``). ``submit(kind, params,
principal)`` records the job (state ``queued``) and runs it on a worker thread; the caller gets the job id
at once. A job's state, progress (done/total, rate), log lines and result live in the ``jobs`` table (so a
browser reload or another client sees them) and, while it runs, in memory (so polling costs no query).

States: queued -> running -> done | failed | cancelled. ``cancel(job_id)`` stops a job at its next progress
report; its data write is one transaction (ingest, prediction import) or committed batches (embeddings,
which resume where they stopped), so a cancelled or crashed job never leaves half a benchmark or half a
model run behind. On start the runner marks jobs a stopped server left ``running`` as failed
("server stopped": run it again; a job that brought the server down is not re-run by itself) and runs the
jobs it left ``queued`` (none of their work had started).

Every write of a job goes through the store's one writer (``medviz.writer``): its own rows through
``execute_write_fn``, its data (the domain functions' ``store.transaction()``) through ``WriterStore``.
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .errors import MedvizError
from .store import jobs as sql

KINDS = ("ingest", "predictions", "embed", "export")
STATES = ("queued", "running", "done", "failed", "cancelled")
FINISHED = ("done", "failed", "cancelled")
SERVER_STOPPED = "server stopped"
_PERSIST_EVERY_S = 0.5
_MAX_LOG = 200


class JobCancelled(Exception):
    """Raised inside a job (from its progress callback) when someone cancelled it."""


def execute_write(store, fn, *, block: bool = True):
    """Run ``fn(cursor)`` in one transaction through the store's single writer."""
    from .writer import execute_write_fn
    return execute_write_fn(store, fn, block=block)


class _Release(Exception):
    """Tells a leased write function to roll back (the caller's block raised)."""


@contextmanager
def writer_transaction(store, before_commit=None):
    """``with writer_transaction(store) as cur:`` -- a transaction on the store's one writer, held for the
    block: the writer thread opens it and waits while this thread writes through its cursor, then commits
    (or rolls back when the block raises, or when ``before_commit()`` raises). Writes queued meanwhile by
    others wait their turn. Inside the block, do not wait for another write to the store (it would wait
    for this one)."""
    from .writer import execute_write_fn
    granted, released = threading.Event(), threading.Event()
    box: dict = {}

    def leased(cur):
        box["cur"] = cur
        granted.set()
        released.wait()
        if box.get("abort"):
            raise _Release()
    req = execute_write_fn(store, leased, block=False)
    while not granted.wait(0.05):
        if req.done():
            req.wait()              # the writer refused (closed): raise its error
    try:
        yield box["cur"]
        if before_commit is not None:
            before_commit()
    except BaseException:
        box["abort"] = True
        released.set()
        try:
            req.wait()
        except _Release:
            pass
        raise
    released.set()
    req.wait()


class WriterStore:
    """A ``Store`` whose ``transaction()`` runs on the store's one writer (``writer_transaction``); the rest
    (reads, files folder) is the store itself. Jobs hand this to the domain functions, so ingest, prediction
    import and embedding batches write through the same writer as annotation saves, unchanged."""

    def __init__(self, store, before_commit=None):
        self._store = store
        self._before_commit = before_commit

    def transaction(self):
        return writer_transaction(self._store, self._before_commit)

    def __getattr__(self, name):
        return getattr(self._store, name)


@dataclass
class Job:
    job_id: str
    kind: str
    params: dict
    created_by: str | None
    state: str = "queued"
    done: int = 0
    total: int | None = None
    rate: float | None = None
    log: list[str] = field(default_factory=list)
    result: dict | None = None
    error: str | None = None
    cancel_requested: bool = False
    t_start: float | None = None
    t_persist: float = 0.0

    def line(self, msg: str) -> None:
        self.log.append(f"{time.strftime('%H:%M:%S')} {msg}")
        del self.log[:-_MAX_LOG]


class JobRunner:
    def __init__(self, store, *, workers: int = 2):
        self.store = store
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="medviz-job")
        self.on_finish: list = []          # callables(job dict) run after a job finished (e.g. clear caches)
        self.recovered = execute_write(store, lambda tx: sql.fail_running(tx, SERVER_STOPPED))
        self.resumed = self._resume_queued()

    def _resume_queued(self) -> int:
        """Jobs a stopped server had queued but not started run now, in their order (nothing of them was
        applied). One whose uploaded input is gone is marked failed with the reason."""
        n = 0
        for row in sql.queued(self.store.cursor()):
            path = row["params"].get("path")
            if row["kind"] in ("ingest", "predictions") and path and not os.path.exists(path):
                execute_write(self.store, lambda tx, r=row: sql.fail_job(
                    tx, r["job_id"], f"{SERVER_STOPPED} before the job started, and its input file is gone"))
                continue
            job = Job(row["job_id"], row["kind"], row["params"], row["created_by"])
            job.line("resumed: the server restarted before this queued job started")
            with self._lock:
                self._jobs[job.job_id] = job
            self._pool.submit(self._run, job)
            n += 1
        return n

    # --- public verbs -------------------------------------------------------------------------------------
    def submit(self, kind: str, params: dict, created_by: str | None = None) -> str:
        if kind not in KINDS:
            raise MedvizError(f"unknown job kind '{kind}' (one of {', '.join(KINDS)})", field="kind")
        job = Job(uuid.uuid4().hex[:16], kind, dict(params), created_by)
        execute_write(self.store, lambda tx: sql.insert_job(tx, job.job_id, kind, job.params, created_by))
        with self._lock:
            self._jobs[job.job_id] = job
        self._pool.submit(self._run, job)
        return job.job_id

    def get(self, job_id: str) -> dict | None:
        with self._lock:
            job = self._jobs.get(job_id)
        row = sql.get(self.store.cursor(), job_id)
        if row is None:
            return None
        if job is not None and job.state not in FINISHED:    # live values are newer than the last persisted
            row.update(state=job.state, done=job.done, total=job.total, rate=job.rate, log=list(job.log))
        return _public(row)

    def list(self, limit: int = 50, kind: str | None = None) -> list[dict]:
        rows = sql.recent(self.store.cursor(), limit, kind)
        out = []
        for row in rows:
            with self._lock:
                job = self._jobs.get(row["job_id"])
            if job is not None and job.state not in FINISHED:
                row.update(state=job.state, done=job.done, total=job.total, rate=job.rate, log=list(job.log))
            out.append(_public(row))
        return out

    def cancel(self, job_id: str) -> dict:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            row = sql.get(self.store.cursor(), job_id)
            if row is None:
                raise MedvizError("no such job", record=job_id, field="job_id")
            return _public(row)      # finished (or left by an earlier server): nothing to cancel
        if job.state not in FINISHED:
            job.cancel_requested = True
            job.line("cancel requested")
        return self.get(job_id)

    def wait(self, job_id: str, timeout: float = 60.0) -> dict:
        t_end = time.monotonic() + timeout
        while True:
            j = self.get(job_id)
            if j is None or j["state"] in FINISHED or time.monotonic() > t_end:
                return j
            time.sleep(0.05)

    def close(self) -> None:
        with self._lock:
            for job in self._jobs.values():
                if job.state not in FINISHED:
                    job.cancel_requested = True
        self._pool.shutdown(wait=True, cancel_futures=True)

    # --- worker side --------------------------------------------------------------------------------------
    def _progress(self, job: Job):
        def update(done, total=None):
            if job.cancel_requested:
                raise JobCancelled()
            job.done, job.total = int(done), (int(total) if total is not None else job.total)
            elapsed = time.perf_counter() - (job.t_start or time.perf_counter())
            job.rate = job.done / elapsed if elapsed > 0 and job.done else None
            now = time.monotonic()
            if now - job.t_persist >= _PERSIST_EVERY_S:
                job.t_persist = now
                self._persist(job)
        return update

    @staticmethod
    def _check_cancel(job: Job) -> None:
        """Before each of a job's commits: a cancelled job commits nothing more."""
        if job.cancel_requested:
            raise JobCancelled()

    def _persist(self, job: Job) -> None:
        # not waited for: a job may report progress while it holds the writer (inside writer_transaction)
        done, total, rate, log = job.done, job.total, job.rate, list(job.log)
        execute_write(self.store, lambda tx: sql.update_progress(tx, job.job_id, done, total, rate, log),
                      block=False)

    def _run(self, job: Job) -> None:
        if job.cancel_requested:
            return self._finish(job, "cancelled", None, None)
        job.state, job.t_start = "running", time.perf_counter()
        execute_write(self.store, lambda tx: sql.mark_running(tx, job.job_id))
        job.line(f"{job.kind} started")
        try:
            result = _HANDLERS[job.kind](WriterStore(self.store, lambda: self._check_cancel(job)), job,
                                        self._progress(job))
        except JobCancelled:
            job.line("cancelled; nothing of an unfinished step was kept")
            return self._finish(job, "cancelled", None, None)
        except MedvizError as e:
            job.line(f"failed: {e}")
            return self._finish(job, "failed", None, str(e))
        except Exception as e:  # noqa: BLE001 - a bug: the job fails with a message, the server keeps running
            job.line(f"failed: {e!r}")
            import logging
            logging.getLogger("medviz.jobs").error("job %s failed:\n%s", job.job_id, traceback.format_exc())
            return self._finish(job, "failed", None, f"internal error ({type(e).__name__}); see the server log")
        job.line("done")
        self._finish(job, "done", result, None)

    def _finish(self, job: Job, state: str, result, error) -> None:
        if job.params.get("uploaded"):          # the uploaded copy was only the job's input
            import shutil
            shutil.rmtree(os.path.dirname(job.params["path"]), ignore_errors=True)
        execute_write(self.store, lambda tx: sql.finish(tx, job.job_id, state, result=result, error=error,
                                                        done=job.done, total=job.total, rate=job.rate,
                                                        log=list(job.log)))
        job.state, job.result, job.error = state, result, error
        with self._lock:
            self._jobs.pop(job.job_id, None)
        for fn in list(self.on_finish):
            try:
                fn(self.get(job.job_id))
            except Exception:  # noqa: BLE001 - a listener must not break the runner
                import logging
                logging.getLogger("medviz.jobs").exception("job listener failed")


def _public(row: dict) -> dict:
    """The JSON shape of a job (API and app)."""
    ts = {k: (row[k].isoformat() + "Z" if row.get(k) is not None else None)
          for k in ("created_at", "started_at", "finished_at")}
    return {"job_id": row["job_id"], "kind": row["kind"], "state": row["state"], "params": row["params"],
            "created_by": row["created_by"], **ts,
            "progress": {"done": int(row["done"] or 0), "total": None if row["total"] is None else int(row["total"]),
                         "rate": row["rate"]},
            "log": row["log"], "result": row["result"], "error": row["error"]}


# --- the jobs -----------------------------------------------------------------------------------------

def _ingest(store, job: Job, progress) -> dict:
    from .ingest import ingest_benchmark
    p = job.params
    job.line(f"reading {os.path.basename(p['path'])}")
    res = ingest_benchmark(store, p["path"], kind=p.get("kind"), benchmark_id=p.get("benchmark_id"),
                           images_dir=p.get("images_dir"), progress=progress)
    job.line(f"loaded {res['items']} items, {res['pairs']} pairs, {res['images_missing']} images missing")
    return res


def _predictions(store, job: Job, progress) -> dict:
    from .ingest import import_predictions
    p = job.params
    progress(0, 1)
    counts = import_predictions(store, p["benchmark_id"], p["path"], fmt=p.get("format"), model=p.get("model"),
                                synthetic=bool(p.get("synthetic")), tr=p.get("tr"),
                                result_path=p.get("result_path"))
    for m, n in counts.items():
        job.line(f"{m}: {n} predictions")
    job.done, job.total = 1, 1
    return {"benchmark_id": p["benchmark_id"], "models": counts}


def _embed(store, job: Job, progress) -> dict:
    from .encoders import compute_embeddings
    p = job.params
    res = compute_embeddings(store, p["benchmark_id"], p.get("encoder"), device=p.get("device"),
                             batch_size=p.get("batch_size"), progress=progress,
                             exact_decode=True if p.get("exact_decode") else None)
    job.line(res.summary())
    for msg in res.errors:
        job.line(f"skipped: {msg}")
    out = {"benchmark_id": res.benchmark_id, "encoder_id": res.encoder_id, "weights_digest": res.weights_digest,
           "decode": res.decode, "device": res.device, "n_images": res.n_images, "n_new": res.n_new, "n_cached": res.n_cached,
           "n_missing": res.n_missing, "n_failed": res.n_failed, "images_per_s": res.images_per_s}
    if p.get("probe"):
        from .encoders import zero_shot_probe
        out["probe_predictions"] = zero_shot_probe(store, res.benchmark_id, res.encoder_id)
        job.line(f"zero-shot {res.encoder_id}: {out['probe_predictions']} predictions stored as a model "
                 "(encoder probe)")
    return out


def _export(store, job: Job, progress) -> dict:
    from .export import export_annotations
    p = job.params
    fmt = p.get("format") or "csv"
    out_dir = os.path.join(store.files_dir, "exports")
    os.makedirs(out_dir, exist_ok=True)
    out = os.path.join(out_dir, f"annotations-{job.job_id}.{fmt}")
    progress(0, 1)
    export_annotations(store, out, fmt=fmt, benchmark_id=p.get("benchmark_id"), model=p.get("model"),
                       modality=p.get("modality"))
    job.done, job.total = 1, 1
    return {"path": out, "format": fmt, "bytes": os.path.getsize(out)}


_HANDLERS = {"ingest": _ingest, "predictions": _predictions, "embed": _embed, "export": _export}
