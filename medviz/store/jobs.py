"""Background jobs (ingest, prediction import, embeddings, export): schema and every SQL statement about them.

One row per job. The job runner (``medviz.jobs``) is the only caller of the write functions and runs them
through the store's one writer. ``log`` holds the job's log lines as a JSON list; ``params`` and ``result``
are JSON objects.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

from .db import first_row

MIGRATIONS = [
    """
    CREATE TABLE jobs (
        job_id VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, state VARCHAR NOT NULL, params VARCHAR,
        created_by VARCHAR, created_at TIMESTAMP NOT NULL, started_at TIMESTAMP, finished_at TIMESTAMP,
        done BIGINT DEFAULT 0, total BIGINT, rate DOUBLE, log VARCHAR, result VARCHAR, error VARCHAR)
    """,
]

COLUMNS = ["job_id", "kind", "state", "params", "created_by", "created_at", "started_at", "finished_at", "done",
           "total", "rate", "log", "result", "error"]


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


# --- writes (through the one writer) ------------------------------------------------------------------

def insert_job(tx, job_id: str, kind: str, params: dict, created_by: str | None) -> None:
    tx.execute("INSERT INTO jobs (job_id, kind, state, params, created_by, created_at, done, log) "
               "VALUES (?, ?, 'queued', ?, ?, ?, 0, '[]')", [job_id, kind, json.dumps(params), created_by, _now()])


def mark_running(tx, job_id: str) -> None:
    tx.execute("UPDATE jobs SET state = 'running', started_at = ? WHERE job_id = ? AND state = 'queued'",
               [_now(), job_id])


def update_progress(tx, job_id: str, done: int, total: int | None, rate: float | None, log: list[str]) -> None:
    tx.execute("UPDATE jobs SET done = ?, total = ?, rate = ?, log = ? WHERE job_id = ?",
               [done, total, rate, json.dumps(log), job_id])


def finish(tx, job_id: str, state: str, *, result: dict | None, error: str | None, done: int,
           total: int | None, rate: float | None, log: list[str]) -> None:
    tx.execute("UPDATE jobs SET state = ?, finished_at = ?, result = ?, error = ?, done = ?, total = ?, rate = ?, "
               "log = ? WHERE job_id = ?",
               [state, _now(), json.dumps(result) if result is not None else None, error, done, total, rate,
                json.dumps(log), job_id])


def fail_running(tx, reason: str) -> int:
    """Jobs a stopped server left running: marked failed with ``reason``; returns how many."""
    n = first_row(tx.execute("SELECT count(*) FROM jobs WHERE state = 'running'"))[0]
    tx.execute("UPDATE jobs SET state = 'failed', error = ?, finished_at = ? WHERE state = 'running'",
               [reason, _now()])
    return int(n)


def fail_job(tx, job_id: str, reason: str) -> None:
    tx.execute("UPDATE jobs SET state = 'failed', error = ?, finished_at = ? WHERE job_id = ?",
               [reason, _now(), job_id])


# --- reads --------------------------------------------------------------------------------------------

def _row(r) -> dict:
    d = dict(zip(COLUMNS, r))
    d["params"] = json.loads(d["params"]) if d["params"] else {}
    d["result"] = json.loads(d["result"]) if d["result"] else None
    d["log"] = json.loads(d["log"]) if d["log"] else []
    return d


def get(cur, job_id: str) -> dict | None:
    r = first_row(cur.execute(f"SELECT {', '.join(COLUMNS)} FROM jobs WHERE job_id = ?", [job_id]))
    return _row(r) if r else None


def queued(cur) -> list[dict]:
    """Jobs waiting to run, oldest first."""
    rows = cur.execute(f"SELECT {', '.join(COLUMNS)} FROM jobs WHERE state = 'queued' ORDER BY created_at").fetchall()
    return [_row(r) for r in rows]


def recent(cur, limit: int = 50, kind: str | None = None) -> list[dict]:
    rows = cur.execute(f"SELECT {', '.join(COLUMNS)} FROM jobs WHERE kind = coalesce(?, kind) "
                       "ORDER BY created_at DESC LIMIT ?", [kind, limit]).fetchall()
    return [_row(r) for r in rows]
