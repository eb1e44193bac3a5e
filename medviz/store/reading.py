"""Reading plans (how many independent readers each pair of a benchmark needs, blind or not) and the
per-target reader counts the double-reading queues are built from. Parameterised SQL only."""
from __future__ import annotations

import pandas as pd

from .db import first_row

MIGRATIONS = [
    """
    CREATE TABLE reading_plans (
        benchmark_id VARCHAR PRIMARY KEY, readers INTEGER NOT NULL, blind BOOLEAN,
        updated_by VARCHAR, updated_at TIMESTAMP)
    """,
]


def plan(cur, benchmark_id: str) -> dict | None:
    row = first_row(cur.execute("SELECT benchmark_id, readers, blind, updated_by, updated_at FROM reading_plans "
                      "WHERE benchmark_id = ?", [benchmark_id]))
    if row is None:
        return None
    return dict(zip(["benchmark_id", "readers", "blind", "updated_by", "updated_at"], row))


def upsert_plan(tx, benchmark_id: str, readers: int, blind: bool | None, by: str, at) -> None:
    tx.execute("DELETE FROM reading_plans WHERE benchmark_id = ?", [benchmark_id])
    tx.execute("INSERT INTO reading_plans VALUES (?, ?, ?, ?, ?)", [benchmark_id, readers, blind, by, at])


def readers_per_target(cur, benchmark_id: str) -> pd.DataFrame:
    """(target_id, reviewer) for every reviewer with a current, not retracted annotation (kind 'annotation')
    on a target of the benchmark: who has read what."""
    return cur.execute(
        """
        WITH latest AS (
            SELECT annotation_id, max(revision) AS revision FROM annotation_revisions
            WHERE benchmark_id = ? GROUP BY annotation_id)
        SELECT DISTINCT r.target_id, r.reviewer
        FROM annotation_revisions r JOIN latest l USING (annotation_id, revision)
        WHERE r.benchmark_id = ? AND NOT r.retracted AND coalesce(r.kind, 'annotation') = 'annotation'
        ORDER BY r.target_id, r.reviewer
        """, [benchmark_id, benchmark_id]).df()
