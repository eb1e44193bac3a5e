"""The materialised consensus of clinicians' annotations: one row per unit, kept in step by readers.

Only the store's one writer calls the write functions (``sync_consensus`` through ``execute_write_fn``; the
table is created by a migration of ``medviz.store.annotations``).
"""
from __future__ import annotations

import pandas as pd
import pyarrow as pa

from .annotations import ALL_MODELS_LABEL

# --- consensus, materialised ----------------------------------------------------------------------------
# A unit is (target, model or all models). Its consensus: the latest adjudication's tags if it was
# adjudicated, else the tags at least half of its reviewers applied (each reviewer counted once per tag).
# Targets never change within an annotation's history, so a write only touches the units of its targets;
# readers bring those up to date first (sync_consensus, on the store writer): a save stays one small insert.
_TARGET_KEY = "benchmark_id || '|' || target_type || '|' || target_id"
_CONSENSUS_DDL = """
CREATE TABLE annotation_consensus (
    unit VARCHAR NOT NULL, benchmark_id VARCHAR NOT NULL, target_type VARCHAR NOT NULL, target_id VARCHAR NOT NULL,
    model VARCHAR, model_key VARCHAR NOT NULL, tags VARCHAR[] NOT NULL, n_reviewers INTEGER NOT NULL,
    adjudicated BOOLEAN NOT NULL, proposed_answers VARCHAR[] NOT NULL)
"""


def _consensus_select(source: str) -> str:
    """The consensus of the units whose revisions come from ``source`` (a constant FROM fragment)."""
    return f"""
    WITH cur AS (SELECT * FROM {source}
                 QUALIFY row_number() OVER (PARTITION BY annotation_id ORDER BY revision DESC) = 1),
    u AS (SELECT *, coalesce(model, '{ALL_MODELS_LABEL}') AS model_key,
                 {_TARGET_KEY} || '|' || coalesce(model, '{ALL_MODELS_LABEL}') AS unit
          FROM cur WHERE NOT retracted),
    nrev AS (SELECT unit, count(DISTINCT reviewer) AS n FROM u WHERE kind = 'annotation' GROUP BY unit),
    votes AS (SELECT unit, tag, count(DISTINCT reviewer) AS c
              FROM (SELECT unit, reviewer, unnest(tags) AS tag FROM u WHERE kind = 'annotation')
              GROUP BY unit, tag),
    voted AS (SELECT v.unit, list(v.tag ORDER BY v.tag) AS tags FROM votes v JOIN nrev USING (unit)
              WHERE 2 * v.c >= nrev.n GROUP BY v.unit),
    adj AS (SELECT unit, list_sort(list_distinct(tags)) AS tags FROM u WHERE kind = 'adjudication'
            QUALIFY row_number() OVER (PARTITION BY unit ORDER BY updated_at DESC, created_at DESC,
                                       annotation_id DESC) = 1),
    prop AS (SELECT unit, list_sort(list_distinct(list(proposed_answer))) AS proposed FROM u
             WHERE proposed_answer IS NOT NULL GROUP BY unit),
    first AS (SELECT unit, benchmark_id, target_type, target_id, model, model_key FROM u
              QUALIFY row_number() OVER (PARTITION BY unit ORDER BY created_at, annotation_id) = 1)
    SELECT f.unit, f.benchmark_id, f.target_type, f.target_id, f.model, f.model_key,
           coalesce(adj.tags, voted.tags, []::VARCHAR[]) AS tags, coalesce(nrev.n, 0)::INTEGER AS n_reviewers,
           adj.unit IS NOT NULL AS adjudicated, coalesce(prop.proposed, []::VARCHAR[]) AS proposed_answers
    FROM first f LEFT JOIN adj USING (unit) LEFT JOIN voted USING (unit) LEFT JOIN nrev USING (unit)
         LEFT JOIN prop USING (unit)
    """


def create_consensus(tx) -> None:
    tx.execute(_CONSENSUS_DDL)
    tx.execute("INSERT INTO annotation_consensus " + _consensus_select("annotation_revisions"))


_TOUCHED = ("(SELECT DISTINCT benchmark_id, target_type, target_id FROM annotation_revisions "
            "WHERE rev_id > ? AND rev_id <= ?)")
_FULL_REBUILD_SHARE = 0.25      # above this share of stale units, recomputing everything is cheaper
_FEW_TARGETS = 2000             # up to this many targets, the full consensus query alone beats splitting them


def consensus_lag(cur) -> tuple[int, int]:
    """(synced_rev, newest rev_id): the consensus is current when they are equal (one tiny read)."""
    synced, newest = cur.execute("SELECT (SELECT max(synced_rev) FROM annotation_consensus_state), "
                                 "(SELECT coalesce(max(rev_id), 0) FROM annotation_revisions)").fetchall()[0]
    return synced or 0, newest


# A unit whose whole history is one revision — one reviewer's annotation, not retracted — is its own consensus
# (its distinct tags, sorted; one reviewer): most units of a tagging pass. Those are written by one grouping;
# only the other units go through the full consensus query.
_UNIT_KEYS = f"benchmark_id, target_type, target_id, coalesce(model, '{ALL_MODELS_LABEL}')"
_ONE_REVISION = ("count(*) = 1 AND bool_and(kind = 'annotation' AND NOT retracted "
                 "AND len(list_filter(tags, lambda x: x IS NULL)) = 0)")


def _sync_units(tx, scope: str, params: list) -> None:
    """Insert the consensus of every unit of the targets in ``scope`` (a constant FROM fragment over
    annotation_revisions, with ``params``): single-revision units directly, the others by the full query."""
    tx.execute(f"""
        INSERT INTO annotation_consensus
        SELECT {_TARGET_KEY} || '|' || model_key, benchmark_id, target_type, target_id, model, model_key,
               list_sort(list_distinct(tags)), 1, FALSE,
               CASE WHEN proposed_answer IS NULL THEN []::VARCHAR[] ELSE [proposed_answer] END
        FROM (SELECT {_UNIT_KEYS} AS model_key, any_value(model) AS model, any_value(tags) AS tags,
                     any_value(proposed_answer) AS proposed_answer
              FROM {scope} GROUP BY ALL HAVING {_ONE_REVISION})""", params)
    others = (f"(SELECT r.* FROM {scope.replace('annotation_revisions', 'annotation_revisions r', 1)} "
              f"SEMI JOIN (SELECT {_UNIT_KEYS} AS model_key FROM {scope} GROUP BY ALL "
              f"HAVING NOT ({_ONE_REVISION})) o ON o.benchmark_id = r.benchmark_id AND o.target_type = r.target_type "
              f"AND o.target_id = r.target_id AND o.model_key = coalesce(r.model, '{ALL_MODELS_LABEL}'))")
    n_others = tx.execute(f"SELECT count(*) FROM (SELECT {_UNIT_KEYS} FROM {scope} GROUP BY ALL "
                          f"HAVING NOT ({_ONE_REVISION}))", params).fetchall()[0][0]
    if n_others:
        tx.execute("INSERT INTO annotation_consensus " + _consensus_select(others), params + params)


def sync_consensus(tx) -> int:
    """Bring the materialised consensus up to date with every revision saved since it was last synced:
    recompute the units of the targets those revisions touch (or everything, when most are touched).
    Runs on the store's writer (``execute_write_fn``), inside its transaction. Returns revisions applied."""
    synced, newest = consensus_lag(tx)
    if newest == synced:
        return 0
    full = synced == 0
    if not full:
        n_touched = tx.execute(f"SELECT count(*) FROM {_TOUCHED}", [synced, newest]).fetchall()[0][0]
        n_units = tx.execute("SELECT count(*) FROM annotation_consensus").fetchall()[0][0]
        full = n_touched > _FULL_REBUILD_SHARE * max(n_units, 1)
    if full:
        tx.execute("DELETE FROM annotation_consensus")
        _sync_units(tx, "annotation_revisions", [])
    else:
        tx.execute(f"DELETE FROM annotation_consensus c USING {_TOUCHED} t WHERE c.benchmark_id = t.benchmark_id "
                   "AND c.target_type = t.target_type AND c.target_id = t.target_id", [synced, newest])
        scope = f"annotation_revisions SEMI JOIN {_TOUCHED} t USING (benchmark_id, target_type, target_id)"
        if n_touched <= _FEW_TARGETS:
            tx.execute("INSERT INTO annotation_consensus " + _consensus_select(f"({scope})"), [synced, newest])
        else:
            _sync_units(tx, scope, [synced, newest])
    tx.execute("UPDATE annotation_consensus_state SET synced_rev = ?", [newest])
    return newest - synced


def finish_bulk_tag(tx, table, first_rev: int, last_rev: int) -> None:
    """Keep the consensus exact inside a bulk tag's transaction, so no reader has to sync after it.

    Call after inserting the bulk rows (``table``, in ``REVISION_SCHEMA``, rev_ids ``first_rev``..``last_rev``).
    A bulk tag adds one new, single-revision annotation per row: a target with no other revision (named once,
    no missing tag) is its own consensus, written straight from the rows. The rest — targets the bulk tag
    shares with earlier revisions, and targets saved since the last sync (single saves leave theirs to the
    next reader or bulk tag) — are recomputed from their revisions. Then the consensus is synced to ``last_rev``."""
    synced, _ = consensus_lag(tx)
    tx.register("_bulk_tag", table)
    try:
        rows = tx.execute("""
            SELECT DISTINCT benchmark_id, target_type, target_id FROM annotation_revisions
            WHERE rev_id > $synced AND rev_id < $first
            UNION
            SELECT DISTINCT r.benchmark_id, r.target_type, r.target_id FROM annotation_revisions r
            SEMI JOIN _bulk_tag b ON b.benchmark_id = r.benchmark_id AND b.target_type = r.target_type
                                 AND b.target_id = r.target_id
            WHERE r.rev_id < $first
            UNION
            SELECT benchmark_id, target_type, target_id FROM _bulk_tag GROUP BY ALL
            HAVING count(*) > 1 OR bool_or(len(list_filter(tags, lambda x: x IS NULL)) > 0)""",
                          {"synced": synced, "first": first_rev}).fetchall()
        redo = pa.table([pa.array([r[k] for r in rows], pa.string()) for k in range(3)],
                        names=["benchmark_id", "target_type", "target_id"])
        tx.register("_bulk_redo", redo)
        try:
            if redo.num_rows:           # before the inserts (a delete among this transaction's new rows costs)
                tx.execute("DELETE FROM annotation_consensus c USING _bulk_redo m WHERE c.benchmark_id = "
                           "m.benchmark_id AND c.target_type = m.target_type AND c.target_id = m.target_id")
            tx.execute(f"""
                INSERT INTO annotation_consensus
                SELECT {_TARGET_KEY} || '|' || coalesce(model, '{ALL_MODELS_LABEL}'), benchmark_id, target_type,
                       target_id, model, coalesce(model, '{ALL_MODELS_LABEL}'), list_sort(list_distinct(tags)), 1,
                       FALSE, CASE WHEN proposed_answer IS NULL THEN []::VARCHAR[] ELSE [proposed_answer] END
                FROM _bulk_tag b ANTI JOIN _bulk_redo m ON m.benchmark_id = b.benchmark_id
                     AND m.target_type = b.target_type AND m.target_id = b.target_id""")
            scope = "annotation_revisions SEMI JOIN _bulk_redo t USING (benchmark_id, target_type, target_id)"
            if 0 < redo.num_rows <= _FEW_TARGETS:      # a few targets: one statement (fixed costs dominate)
                tx.execute("INSERT INTO annotation_consensus " + _consensus_select(f"({scope})"))
            elif redo.num_rows:
                _sync_units(tx, scope, [])
        finally:
            tx.unregister("_bulk_redo")
    finally:
        tx.unregister("_bulk_tag")
    tx.execute("UPDATE annotation_consensus_state SET synced_rev = ?", [last_rev])


def full_consensus(cur) -> "pd.DataFrame":
    """The consensus recomputed from every revision (what ``sync_consensus`` must always equal)."""
    return cur.execute(_consensus_select("annotation_revisions") + " ORDER BY unit").df()


def consensus(cur, benchmark_id: str) -> pd.DataFrame:
    """The materialised consensus of one benchmark's units."""
    return cur.execute("SELECT * FROM annotation_consensus WHERE benchmark_id = ? ORDER BY unit",
                       [benchmark_id]).df()


# Grouping dimensions of failure-mode statistics -> SQL expressions over the unit rows (constants only).
