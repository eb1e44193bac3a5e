"""Background jobs in the app: start one, watch its progress live, cancel it, see past jobs.

Under ``medviz serve`` the jobs run in the server's own ``JobRunner`` (the one the API uses), so a job
started here shows up for API clients and survives a browser reload; under a plain ``streamlit run`` the
app keeps a runner of its own for its store. Progress redraws in an ``st.fragment`` every second while a
job of this session is queued or running.
"""
from __future__ import annotations

import os
import uuid

import pandas as pd
import streamlit as st

from ..errors import MedvizError
from . import data

_MINE = "_medviz_jobs"          # job ids started in this browser session (shown first, polled live)
_SEEN_DONE = "_medviz_jobs_done"


@st.cache_resource(show_spinner=False)
def _local_runner(path: str):
    from ..jobs import JobRunner
    return JobRunner(data.store(path))


def runner(ctx):
    """The job runner that owns this store (the server's under ``medviz serve``)."""
    from ..server import current
    s = current()
    if s is not None and s.jobs is not None and os.path.abspath(s.db_path) == os.path.abspath(ctx.db_path):
        return s.jobs
    return _local_runner(ctx.db_path)


def _who(ctx) -> str:
    return getattr(ctx.reviewer, "name", None) or "app (local mode)"


def start(ctx, kind: str, params: dict) -> str | None:
    """Queue a job; remembers it for this session; shows the error instead when it cannot start."""
    try:
        job_id = runner(ctx).submit(kind, params, _who(ctx))
    except MedvizError as e:
        st.error(str(e))
        return None
    st.session_state.setdefault(_MINE, []).insert(0, job_id)
    return job_id


def save_upload(ctx, uploaded) -> str:
    """Write a ``st.file_uploader`` file beside the database (the job reads it from there)."""
    import re
    folder = os.path.join(data.store(ctx.db_path).files_dir, "uploads", uuid.uuid4().hex[:12])
    os.makedirs(folder, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", os.path.basename(uploaded.name)).strip("._") or "upload"
    path = os.path.join(folder, name)
    with open(path, "wb") as f:
        f.write(uploaded.getbuffer())
    return path


def _finished_now(jobs: list[dict]) -> None:
    """Data changed under a finished job: drop cached query results once per job."""
    seen = st.session_state.setdefault(_SEEN_DONE, set())
    fresh = [j for j in jobs if j["state"] == "done" and j["job_id"] not in seen]
    if fresh:
        seen.update(j["job_id"] for j in fresh)
        st.cache_data.clear()


def _show(r, job: dict, key: str) -> None:
    p = job["progress"]
    total = p["total"] or 0
    frac = min(1.0, p["done"] / total) if total else (1.0 if job["state"] == "done" else 0.0)
    rate = f" · {p['rate']:.1f}/s" if p.get("rate") else ""
    label = f"{job['kind']} · {job['state']} · {p['done']}/{total or '?'}{rate}"
    box = st.container(border=True)
    head = box.columns([5, 1])
    head[0].progress(frac, text=label)
    if job["state"] in ("queued", "running"):
        head[1].button("Cancel", key=f"cancel-{key}-{job['job_id']}", icon=":material/cancel:",
                       on_click=r.cancel, args=(job["job_id"],))
    if job["state"] == "failed":
        box.error(job["error"] or "failed")
    if job["log"]:
        box.code("\n".join(job["log"][-8:]), language=None)


def _render(ctx, key: str) -> bool:
    """Draw this session's jobs; returns whether one is still queued or running."""
    r = runner(ctx)
    mine = [j for j in (r.get(i) for i in st.session_state.get(_MINE, [])[:10]) if j is not None]
    _finished_now(mine)
    for j in mine:
        _show(r, j, key)
    return any(j["state"] in ("queued", "running") for j in mine)


@st.fragment(run_every=1.0)
def _live(ctx, key: str) -> None:
    if not _render(ctx, key):
        st.rerun()                    # everything finished: one full rerun shows the new data, polling stops


def session_jobs(ctx, key: str = "jobs") -> None:
    """The jobs started in this browser session, with live progress while any runs."""
    r = runner(ctx)
    active = any((j := r.get(i)) is not None and j["state"] in ("queued", "running")
                 for i in st.session_state.get(_MINE, [])[:10])
    if active:
        _live(ctx, key)
    else:
        _render(ctx, key)


def recent_table(ctx, limit: int = 50) -> pd.DataFrame:
    rows = runner(ctx).list(limit)
    return pd.DataFrame([{"job": j["job_id"], "kind": j["kind"], "state": j["state"], "by": j["created_by"],
                          "created (UTC)": j["created_at"], "done": j["progress"]["done"],
                          "total": j["progress"]["total"], "error": j["error"]} for j in rows])


def embed_button(ctx, encoder: str = "pixels", key: str = "embed") -> None:
    """The app's answer to "embeddings are not computed": a button that starts the job, with its progress."""
    st.button(f"Compute `{encoder}` embeddings for {ctx.benchmark_id}", key=f"{key}-start",
              icon=":material/play_arrow:", on_click=start,
              args=(ctx, "embed", {"benchmark_id": ctx.benchmark_id, "encoder": encoder}))
    session_jobs(ctx, key)
