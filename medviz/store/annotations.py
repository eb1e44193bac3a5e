"""Clinicians' annotations: schema and every SQL statement about them.

History is append-only: ``annotation_revisions`` holds one row per revision and is never updated or
deleted from. An edit is a new row with ``revision + 1``; a deletion is a new row with ``retracted``; an
adjudicated consensus is an annotation of ``kind = 'adjudication'``. The current view is the latest
revision of each annotation. ``annotation_taxonomies`` keeps every taxonomy version adjudicators publish.

Only the store's one writer calls the write functions (``medviz.annotations.writer`` inside its one
transaction per batch; the consensus, ``medviz.store.consensus``, through ``execute_write_fn``). The export
statement lives in ``medviz.store.annotation_export``.
"""
from __future__ import annotations

import pandas as pd
import pyarrow as pa

MIGRATIONS = [
    """
    CREATE TABLE annotation_revisions (
        rev_id BIGINT NOT NULL,
        annotation_id VARCHAR NOT NULL,
        revision INTEGER NOT NULL,
        benchmark_id VARCHAR NOT NULL,
        target_type VARCHAR NOT NULL,
        target_id VARCHAR NOT NULL,
        model VARCHAR,
        tags VARCHAR[] NOT NULL,
        rationale VARCHAR,
        confidence TINYINT,
        reviewer VARCHAR NOT NULL,
        proposed_answer VARCHAR,
        taxonomy_version VARCHAR,
        kind VARCHAR NOT NULL DEFAULT 'annotation',
        settles VARCHAR[],
        retracted BOOLEAN NOT NULL DEFAULT FALSE,
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL,
        PRIMARY KEY (annotation_id, revision));
    CREATE INDEX annrev_bench ON annotation_revisions(benchmark_id);
    CREATE TABLE annotation_taxonomies (
        version VARCHAR PRIMARY KEY, body VARCHAR NOT NULL, published_by VARCHAR, published_at TIMESTAMP)
    """,
    # v2: the consensus of every judged unit (see sync_consensus)
    lambda tx: _create_consensus(tx),   # medviz.store.consensus (imported on use: it imports this module)
    # v3: the consensus is brought up to date on read, not in each save's transaction: it covers every
    # revision up to synced_rev (the writer's rev_ids only grow)
    """
    CREATE TABLE annotation_consensus_state (synced_rev BIGINT NOT NULL);
    INSERT INTO annotation_consensus_state SELECT coalesce(max(rev_id), 0) FROM annotation_revisions
    """,
    # v4: who imported which annotations (``medviz import annotations``), in the import's transaction
    """
    CREATE TABLE annotation_imports (
        imported_at TIMESTAMP NOT NULL, imported_by VARCHAR NOT NULL, source VARCHAR,
        annotation_ids VARCHAR[] NOT NULL)
    """,
]

REVISION_COLUMNS = ["rev_id", "annotation_id", "revision", "benchmark_id", "target_type", "target_id", "model",
                    "tags", "rationale", "confidence", "reviewer", "proposed_answer", "taxonomy_version", "kind",
                    "settles", "retracted", "created_at", "updated_at"]

REVISION_SCHEMA = pa.schema([
    ("rev_id", pa.int64()), ("annotation_id", pa.string()), ("revision", pa.int32()),
    ("benchmark_id", pa.string()), ("target_type", pa.string()), ("target_id", pa.string()),
    ("model", pa.string()), ("tags", pa.list_(pa.string())), ("rationale", pa.string()),
    ("confidence", pa.int8()), ("reviewer", pa.string()), ("proposed_answer", pa.string()),
    ("taxonomy_version", pa.string()), ("kind", pa.string()), ("settles", pa.list_(pa.string())),
    ("retracted", pa.bool_()), ("created_at", pa.timestamp("us")), ("updated_at", pa.timestamp("us")),
])

ALL_MODELS_LABEL = "(all models)"     # the model column of an annotation for all models

_CURRENT = ("SELECT * FROM annotation_revisions WHERE benchmark_id = coalesce(?, benchmark_id) "
            "QUALIFY row_number() OVER (PARTITION BY annotation_id ORDER BY revision DESC) = 1")
_CURRENT_OF_TARGET = ("SELECT * FROM annotation_revisions WHERE benchmark_id = coalesce(?, benchmark_id) "
                      "AND target_id = ? "
                      "QUALIFY row_number() OVER (PARTITION BY annotation_id ORDER BY revision DESC) = 1")


def _create_consensus(tx) -> None:
    from .consensus import create_consensus
    create_consensus(tx)


# --- writes (the annotation writer's transaction) -----------------------------------------------------

def max_rev_id(tx) -> int:
    return tx.execute("SELECT coalesce(max(rev_id), 0) FROM annotation_revisions").fetchall()[0][0]


def insert_revisions(tx, table: pa.Table) -> None:
    """Append revision rows (an Arrow table in ``REVISION_SCHEMA``) in one statement."""
    tx.register("_ann_batch", table)
    try:
        tx.execute("INSERT INTO annotation_revisions BY NAME SELECT * FROM _ann_batch")
    finally:
        tx.unregister("_ann_batch")


_ROW_PLACEHOLDERS = "(" + ", ".join("?" for _ in REVISION_COLUMNS) + ")"
SMALL_BATCH = 8


def insert_rows(tx, rows: list[dict]) -> None:
    """Append a few revision rows with one parameterised VALUES statement (cheaper than Arrow for <= 8)."""
    # the statement text depends only on len(rows) and constant column names; values are parameters
    tx.execute(f"INSERT INTO annotation_revisions ({', '.join(REVISION_COLUMNS)}) VALUES "
               + ", ".join([_ROW_PLACEHOLDERS] * len(rows)), [r[c] for r in rows for c in REVISION_COLUMNS])


def record_import(tx, imported_by: str, imported_at, source: str, annotation_ids: list[str]) -> None:
    tx.execute("INSERT INTO annotation_imports VALUES (?, ?, ?, ?)", [imported_at, imported_by, source,
                                                                      annotation_ids])


def imports(cur) -> pd.DataFrame:
    """Every annotation import: when, by whom, from which file, which annotation ids."""
    return cur.execute("SELECT * FROM annotation_imports ORDER BY imported_at").df()


def publish_taxonomy(tx, version: str, body: str, published_by: str, published_at) -> None:
    tx.execute("INSERT INTO annotation_taxonomies VALUES (?, ?, ?, ?)", [version, body, published_by, published_at])


# --- reads ----------------------------------------------------------------------------------------------

def current(cur, benchmark_id: str | None = None, *, include_retracted: bool = False,
            target_id: str | None = None) -> pd.DataFrame:
    """Latest revision of every annotation (optionally of one benchmark, of one target), retracted ones
    dropped. The target filter runs before the latest-revision window (every revision of an annotation has
    its target), so one pair's annotations cost a filtered scan, not the whole benchmark's."""
    sql = f"SELECT * FROM ({_CURRENT if target_id is None else _CURRENT_OF_TARGET}) c"
    if not include_retracted:
        sql += " WHERE NOT retracted"
    params = [benchmark_id] if target_id is None else [benchmark_id, target_id]
    return cur.execute(sql + " ORDER BY created_at, annotation_id", params).df()


# The current annotations of a benchmark with the review unit each one judges (the pair, or the item outside
# pairs: an item target counts for its pair). The one definition behind "tagged units" and the tag index.
_CURRENT_UNITS = f"""
    SELECT CASE WHEN c.target_type = 'item' THEN coalesce(i.pair_id, c.target_id) ELSE c.target_id END AS unit_id,
           c.tags, c.reviewer, c.model, c.created_at, c.annotation_id
    FROM ({_CURRENT}) c
    LEFT JOIN items i ON c.target_type = 'item' AND i.benchmark_id = c.benchmark_id AND i.item_id = c.target_id
    WHERE NOT c.retracted"""


def tagged_unit_ids(cur, benchmark_id: str) -> set[str]:
    """The review units with at least one current annotation: what "next untagged" skips."""
    rows = cur.execute(f"SELECT DISTINCT unit_id FROM ({_CURRENT_UNITS}) u", [benchmark_id]).fetchall()
    return {r[0] for r in rows}


def unit_tag_rows(cur, benchmark_id: str) -> pd.DataFrame:
    """unit_id, tag, reviewer, model: one row per current annotation and tag (an annotation without tags keeps
    one row with a null tag), oldest annotation first, tags in their order."""
    return cur.execute(f"""
        WITH u AS (SELECT *, CASE WHEN len(tags) = 0 THEN [NULL::VARCHAR] ELSE tags END AS tag_list
                   FROM ({_CURRENT_UNITS}) c)
        SELECT unit_id, tag, reviewer, model FROM (
            SELECT unit_id, reviewer, model, created_at, annotation_id, unnest(tag_list) AS tag,
                   generate_subscripts(tag_list, 1) AS k FROM u)
        ORDER BY created_at, annotation_id, k""", [benchmark_id]).df()


def history(cur, annotation_id: str) -> pd.DataFrame:
    return cur.execute("SELECT * FROM annotation_revisions WHERE annotation_id = ? ORDER BY revision",
                       [annotation_id]).df()


def revision_counts(cur) -> dict:
    n, distinct, annotations = cur.execute(
        "SELECT count(*), count(DISTINCT (annotation_id, revision)), count(DISTINCT annotation_id) "
        "FROM annotation_revisions").fetchall()[0]
    return {"revisions": n, "distinct_revisions": distinct, "annotations": annotations}


def revision_gaps(cur) -> int:
    """Annotations whose revisions are not exactly 1..n (0 in a consistent store)."""
    return cur.execute(
        "SELECT count(*) FROM (SELECT annotation_id FROM annotation_revisions GROUP BY annotation_id "
        "HAVING min(revision) <> 1 OR max(revision) <> count(*))").fetchall()[0][0]


def latest_taxonomy(cur) -> tuple[str, str] | None:
    rows = cur.execute("SELECT version, body FROM annotation_taxonomies ORDER BY published_at DESC LIMIT 1").fetchall()
    return (rows[0][0], rows[0][1]) if rows else None


_TARGET_ITEMS = """
    t AS (SELECT DISTINCT benchmark_id, target_type, target_id FROM annotation_revisions
          WHERE benchmark_id = coalesce(?, benchmark_id)),
    it AS (
        -- two equi-joins (an OR inside one join condition makes DuckDB fall back to a nested loop)
        SELECT t.benchmark_id, t.target_type, t.target_id, i.item_id, i.slot, i.image_ref, i.answer,
               i.modality, i.categories, i.department, i.task
        FROM t JOIN items i ON i.benchmark_id = t.benchmark_id AND i.item_id = t.target_id
        WHERE t.target_type = 'item'
        UNION ALL
        SELECT t.benchmark_id, t.target_type, t.target_id, i.item_id, i.slot, i.image_ref, i.answer,
               i.modality, i.categories, i.department, i.task
        FROM t JOIN items i ON i.benchmark_id = t.benchmark_id AND i.pair_id = t.target_id
        WHERE t.target_type = 'pair')"""
# Item targets have one row each: no aggregation (string_agg DISTINCT / ORDER BY per group is what costs);
# pair targets aggregate their two items in slot order. Both give the same values for a one-item group.
_TARGET_CONTEXT = """
    ctx AS (SELECT benchmark_id, target_type, target_id, item_id AS item_ids, coalesce(image_ref, '') AS image_ids,
                   coalesce(answer, '') AS correct_answer, modality,
                   list_sort(list_distinct(coalesce(categories, []::VARCHAR[]))) AS categories, department, task
            FROM it WHERE target_type = 'item'
            UNION ALL
            SELECT benchmark_id, target_type, target_id,
                   string_agg(item_id, ';' ORDER BY slot, item_id) AS item_ids,
                   string_agg(coalesce(image_ref, ''), ';' ORDER BY slot, item_id) AS image_ids,
                   string_agg(coalesce(answer, ''), ';' ORDER BY slot, item_id) AS correct_answer,
                   string_agg(DISTINCT modality, ' | ' ORDER BY modality) AS modality,
                   list_sort(list_distinct(flatten(list(categories)))) AS categories,
                   string_agg(DISTINCT department, ' | ' ORDER BY department) AS department,
                   string_agg(DISTINCT task, ' | ' ORDER BY task) AS task
            FROM it WHERE target_type = 'pair' GROUP BY benchmark_id, target_type, target_id)"""
_TARGET_PREDICTIONS = """
    tp AS (SELECT it.benchmark_id, it.target_type, it.target_id, p.model, coalesce(p.raw, '') AS raw_answer,
                  coalesce(p.parsed, '') AS parsed_answer
           FROM it JOIN predictions p ON p.benchmark_id = it.benchmark_id AND p.item_id = it.item_id
           WHERE it.target_type = 'item'
           UNION ALL
           SELECT it.benchmark_id, it.target_type, it.target_id, p.model,
                  string_agg(coalesce(p.raw, ''), ';' ORDER BY it.slot, it.item_id) AS raw_answer,
                  string_agg(coalesce(p.parsed, ''), ';' ORDER BY it.slot, it.item_id) AS parsed_answer
           FROM it JOIN predictions p ON p.benchmark_id = it.benchmark_id AND p.item_id = it.item_id
           WHERE it.target_type = 'pair'
           GROUP BY it.benchmark_id, it.target_type, it.target_id, p.model)"""


def target_context(cur, benchmark_id: str | None = None) -> pd.DataFrame:
    """Per annotated target: image ids, modality, categories, department and the correct answer(s).

    Pairs get both images (``;``-joined item ids, answers, modalities); items get their own fields.
    """
    return cur.execute(f"WITH {_TARGET_ITEMS}, {_TARGET_CONTEXT} SELECT * FROM ctx", [benchmark_id]).df()


def target_predictions(cur, benchmark_id: str | None = None) -> pd.DataFrame:
    """Each model's raw and parsed answers on every annotated target (``;``-joined in slot order for pairs)."""
    return cur.execute(f"WITH {_TARGET_ITEMS}, {_TARGET_PREDICTIONS} SELECT * FROM tp", [benchmark_id]).df()


def pair_similarities(cur, benchmark_id: str | None = None) -> pd.DataFrame:
    """Similarities the benchmark authors shipped with each pair (BiomedCLIP, DINOv2)."""
    return cur.execute("SELECT benchmark_id, pair_id, biomedclip_sim, dino_sim FROM pairs "
                       "WHERE benchmark_id = coalesce(?, benchmark_id)", [benchmark_id]).df()


def pair_answers(cur, benchmark_id: str) -> pd.DataFrame:
    """Per (model, pair): both parsed letters and both correct letters (for image-blind rates)."""
    sql = """
    SELECT p1.model, i1.pair_id, p1.parsed AS parsed_1, p2.parsed AS parsed_2,
           i1.answer AS answer_1, i2.answer AS answer_2
    FROM items i1
    JOIN items i2 ON i2.benchmark_id = i1.benchmark_id AND i2.pair_id = i1.pair_id AND i2.slot = 2
    JOIN predictions p1 ON p1.benchmark_id = i1.benchmark_id AND p1.item_id = i1.item_id
    JOIN predictions p2 ON p2.benchmark_id = i2.benchmark_id AND p2.item_id = i2.item_id AND p2.model = p1.model
    WHERE i1.benchmark_id = ? AND i1.slot = 1
    ORDER BY p1.model, i1.pair_id
    """
    return cur.execute(sql, [benchmark_id]).df()


def table_exists(cur, name: str) -> bool:
    return cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                       [name]).fetchall()[0][0] > 0


def taxonomy_body(cur, version: str) -> str | None:
    rows = cur.execute("SELECT body FROM annotation_taxonomies WHERE version = ?", [version]).fetchall()
    return rows[0][0] if rows else None


def latest_revisions(tx, annotation_ids: list[str]) -> dict[str, dict]:
    """Newest revision of each of these annotations (one query), keyed by annotation id."""
    if not annotation_ids:
        return {}
    cur = tx.execute("SELECT * FROM annotation_revisions WHERE list_contains(?, annotation_id) "
                     "QUALIFY row_number() OVER (PARTITION BY annotation_id ORDER BY revision DESC) = 1",
                     [list(annotation_ids)])
    names = [d[0] for d in cur.description]
    return {d["annotation_id"]: d for d in (dict(zip(names, row)) for row in cur.fetchall())}


def revision_keys(cur) -> set[tuple[str, int]]:
    """Every stored (annotation_id, revision): what durability checks compare acknowledgements with."""
    return set(cur.execute("SELECT annotation_id, revision FROM annotation_revisions").fetchall())


def rev_id_summary(cur) -> tuple[int, int, int]:
    """(distinct rev_ids, min, max): rev_ids are unique and dense in a store written by one writer."""
    return tuple(cur.execute("SELECT count(DISTINCT rev_id), min(rev_id), max(rev_id) "
                             "FROM annotation_revisions").fetchall()[0])


STAT_DIMENSIONS = {"modality": "modality", "model": "model", "category": "category", "department": "department",
                   "task": "task", "target_type": "target_type"}


def failure_mode_counts(cur, benchmark_id: str, by: list[str], *, top_level: bool,
                        exclude_tag: str | None) -> pd.DataFrame:
    """Per group of ``by`` (keys of STAT_DIMENSIONS) x tag: units with the tag (``count``) and reviewed units
    (``n``), over the materialised consensus joined with each target's modality/department/task/categories.
    Missing context reads '(none)'; ``category`` counts a unit once toward each of its categories. Every
    group gets a row for every tag counted anywhere (``count`` 0 where no unit of the group has it)."""
    dims = [STAT_DIMENSIONS[b] for b in by] or ["'all'"]
    gs = ", ".join(f"g{i}" for i in range(len(dims)))
    tags = ("list_distinct(list_transform(c.tags, lambda x: split_part(x, '/', 1)))" if top_level else "c.tags")
    text = [d for d in ("modality", "department", "task") if d in by]
    ctx = text + (["categories"] if "category" in by else [])
    # Only the context the grouping needs. An item target is its one item, joined directly (no aggregation:
    # an ordered string_agg per target is what cost); a pair target aggregates its items.
    src = "c"
    if ctx:
        item_ctx = ", ".join([f"i.{d}" for d in text] + (
            ["list_distinct(coalesce(i.categories, []::VARCHAR[])) AS categories"] if "category" in by else []))
        pair_ctx = ", ".join([f"string_agg(DISTINCT i.{d}, ' | ' ORDER BY i.{d}) AS {d}" for d in text] + (
            ["list_distinct(flatten(list(i.categories))) AS categories"] if "category" in by else []))
        pick = ", ".join(f"CASE WHEN c.target_type = 'item' THEN xi.{d} ELSE xp.{d} END AS {d}" for d in ctx)
        src = f"""(SELECT c.*, {pick} FROM c
            LEFT JOIN (SELECT i.item_id, {item_ctx} FROM items i WHERE i.benchmark_id = $1) xi
                   ON c.target_type = 'item' AND xi.item_id = c.target_id
            LEFT JOIN (SELECT i.pair_id, {pair_ctx} FROM items i WHERE i.benchmark_id = $1 AND i.pair_id IS NOT NULL
                       GROUP BY i.pair_id) xp ON c.target_type = 'pair' AND xp.pair_id = c.target_id)"""
    value = {d: f"coalesce(x.{d}, '(none)')" for d in text}
    value.update(model="x.model_key", target_type="x.target_type", category="x.category")
    cols = ", ".join(f"{value.get(d, d)} AS g{i}" for i, d in enumerate(dims))
    if "category" in by:
        src = (f"(SELECT *, unnest(CASE WHEN categories IS NULL OR len(categories) = 0 THEN ['(none)'] "
               f"ELSE categories END) AS category FROM {src})")
    sql = f"""
    WITH c AS (SELECT target_type, target_id, model_key, {tags} AS tags FROM annotation_consensus c
               WHERE benchmark_id = $1 AND ($2::VARCHAR IS NULL OR NOT list_contains(c.tags, $2))),
    g AS (SELECT {cols}, x.tags FROM {src} x),
    k AS (SELECT {gs}, tag, count(*) AS count FROM (SELECT {gs}, unnest(tags) AS tag FROM g) GROUP BY ALL)
    SELECT {"".join(f'n.g{i} AS "{b}", ' for i, b in enumerate(by))}t.tag, coalesce(k.count, 0) AS count, n.n
    FROM (SELECT {gs}, count(*) AS n FROM g GROUP BY ALL) n CROSS JOIN (SELECT DISTINCT tag FROM k) t
         LEFT JOIN k USING ({gs}, tag)
    ORDER BY {", ".join(f"n.g{i}" for i in range(len(dims)))}, t.tag
    """
    return cur.execute(sql, [benchmark_id, exclude_tag]).df()


def reviewer_tags(cur, benchmark_id: str, all_models_label: str) -> pd.DataFrame:
    """(unit, reviewer, tags) of every current reviewer annotation (adjudications excluded): what agreement
    statistics need, without the rest of each row."""
    sql = f"""
    SELECT benchmark_id || '|' || target_type || '|' || target_id || '|' || coalesce(model, ?) AS unit,
           reviewer, tags
    FROM ({_CURRENT}) c WHERE NOT retracted AND kind = 'annotation'
    """
    return cur.execute(sql, [all_models_label, benchmark_id]).df()
