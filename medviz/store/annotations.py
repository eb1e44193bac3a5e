"""Clinicians' annotations: schema and every SQL statement about them.

History is append-only: ``annotation_revisions`` holds one row per revision and is never updated or
deleted from. An edit is a new row with ``revision + 1``; a deletion is a new row with ``retracted``; an
adjudicated consensus is an annotation of ``kind = 'adjudication'``. The current view is the latest
revision of each annotation. ``annotation_taxonomies`` keeps every taxonomy version adjudicators publish.

Only the store's one writer calls the write functions (``medviz.annotations.writer`` inside its one
transaction per batch; ``sync_consensus`` through ``execute_write_fn``).
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
    lambda tx: _create_consensus(tx),
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

def current(cur, benchmark_id: str | None = None, *, include_retracted: bool = False) -> pd.DataFrame:
    """Latest revision of every annotation (optionally of one benchmark), retracted ones dropped."""
    sql = f"SELECT * FROM ({_CURRENT}) c"
    if not include_retracted:
        sql += " WHERE NOT retracted"
    return cur.execute(sql + " ORDER BY created_at, annotation_id", [benchmark_id]).df()


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


# A cell a spreadsheet would run as a formula (RE2 syntax; medviz.export states the rule): any leading
# quotes, then = + - @ tab CR or NUL. Neutralising adds one quote in front; reading an export removes one.
NEEDS_QUOTE_RE = r"^('*[=+\-@\t\r\x00])"
_NEEDS_QUOTE_SQL = NEEDS_QUOTE_RE.replace("'", "''")    # as a SQL string literal (a constant)


# Export cells medviz itself writes from constants: they cannot start a formula (numbers and times are
# never neutralised).
_MEDVIZ_MADE = frozenset({"target_type", "kind", "medviz_version", "outcome", "synthetic_model"})


def _item_or_pair(item: str, pair: str) -> str:
    return f"CASE WHEN a.target_type = 'item' THEN {item} ELSE {pair} END"


# name -> (SQL expression, type). Types: text, int, float, ts (timestamp), list:<sep> (a list of text; the CSV
# joins it with <sep>). Parquet keeps the native type; the CSV writes every cell as text ('' for missing).
# a: annotation x tag; i / p: an item target's item and prediction; pc / pp: a pair's items and predictions
# (lists in slot order); uo: the target's unit_outcomes row for the annotation's model (its label is computed in
# export_query from medviz.store.views.outcome_label_sql, for the joined rows only); s: encoder similarity.
# options JSON {"A": "...", ...} -> ["A: ...", ...] in letter order
_OPTIONS_LIST = "list_transform(json_keys({o}), lambda k: k || ': ' || json_extract_string({o}, '$.\"' || k || '\"'))"
_SEMI, _CAT_SEP, _OPT_SEP = "list:;", "list:; ", "list: | "
EXPORT_COLUMNS: dict[str, tuple[str, str]] = {
    "benchmark_id": ("a.benchmark_id", "text"), "target_type": ("a.target_type", "text"),
    "target_id": ("a.target_id", "text"),
    "item_ids": (_item_or_pair("CASE WHEN i.item_id IS NOT NULL THEN [i.item_id] END", "pc.item_ids"), _SEMI),
    "image_ids": (_item_or_pair("CASE WHEN i.item_id IS NOT NULL THEN [coalesce(i.image_ref, '')] END",
                                "pc.image_ids"), _SEMI),
    "modality": (_item_or_pair("i.modality", "pc.modality"), "text"),
    "categories": (_item_or_pair("list_sort(list_distinct(coalesce(i.categories, []::VARCHAR[])))",
                                 "pc.categories"), _CAT_SEP),
    "department": (_item_or_pair("i.department", "pc.department"), "text"),
    "model": (f"coalesce(a.model, '{ALL_MODELS_LABEL}')", "text"),
    "question": (_item_or_pair("i.question", "pc.question"), "text"),
    "options": (_item_or_pair(_OPTIONS_LIST.format(o="i.options"), "pc.options_list"), _OPT_SEP),
    "raw_answer": (_item_or_pair("CASE WHEN p.item_id IS NOT NULL THEN [coalesce(p.raw, '')] END", "pp.raw"), _SEMI),
    "parsed_answer": (_item_or_pair("CASE WHEN p.item_id IS NOT NULL THEN [coalesce(p.parsed, '')] END",
                                    "pp.parsed"), _SEMI),
    "correct_answer": (_item_or_pair("CASE WHEN i.item_id IS NOT NULL THEN [coalesce(i.answer, '')] END",
                                     "pc.answers"), _SEMI),
    "outcome": ("uo.uo_label", "text"),
    "tag_group": ("split_part(a.tag, '/', 1)", "text"),
    "tag": ("CASE WHEN strpos(a.tag, '/') > 0 THEN substr(a.tag, strpos(a.tag, '/') + 1) ELSE '' END", "text"),
    "taxonomy_version": ("a.taxonomy_version", "text"), "reviewer": ("a.reviewer", "text"),
    "confidence": ("a.confidence", "int"), "rationale": ("a.rationale", "text"),
    "proposed_answer": ("a.proposed_answer", "text"), "kind": ("a.kind", "text"),
    "settles": ("a.settles", _SEMI), "annotation_id": ("a.annotation_id", "text"), "revision": ("a.revision", "int"),
    "created_at_utc": ("a.created_at", "ts"), "updated_at_utc": ("a.updated_at", "ts"),
    "biomedclip_sim_benchmark": ("pr.biomedclip_sim", "float"), "dino_sim_benchmark": ("pr.dino_sim", "float"),
    "encoder_id": ("s.encoder_id", "text"), "encoder_weights_sha256": ("s.encoder_weights_sha256", "text"),
    "encoder_similarity": ("s.encoder_similarity", "float"),
    "review_url": ("ver.base || '/review?b=' || url_encode(a.benchmark_id) || '&pair=' || "
                   "url_encode(coalesce(i.pair_id, a.target_id)) || "
                   "CASE WHEN a.model IS NOT NULL THEN '&m=' || url_encode(a.model) ELSE '' END", "text"),
    "medviz_version": ("ver.v", "text"),
}
_TIME_SQL = "%Y-%m-%dT%H:%M:%S.%f"


def _csv_text(name: str, typ: str) -> str:
    """A native export column as the text the CSV writes ('' for missing)."""
    c = f'"{name}"'
    if typ == "ts":
        c = f"strftime({c}, '{_TIME_SQL}')"
    elif typ == "float":
        c = f"printf('%.6g', {c})"
    elif typ.startswith("list:"):
        c = f"array_to_string(list_transform({c}, lambda x: coalesce(x, '')), '{typ[5:]}')"
    return f"coalesce(({c})::VARCHAR, '')"


def typed_select(columns: list[tuple[str, str]], for_csv: bool) -> str:
    """The SELECT list that writes typed columns (name, type as in ``EXPORT_COLUMNS``) as they are, or for a
    CSV: every cell as text ('' for missing), text and lists neutralised against formula injection."""
    out = []
    for c, typ in columns:
        if not for_csv:
            out.append(f'"{c}"')
            continue
        e = _csv_text(c, typ)
        if (typ == "text" or typ.startswith("list:")) and c not in _MEDVIZ_MADE:
            # every character that can start a formula (and the quote) sorts before 'A': a byte comparison
            # keeps the regex off almost every cell (RE2 on every cell cost more than the rest of the export)
            e = f"CASE WHEN {e} < 'A' THEN regexp_replace({e}, '{_NEEDS_QUOTE_SQL}', '''\\1') ELSE {e} END"
        out.append(f'{e} AS "{c}"')
    return ", ".join(out)


def export_query(*, benchmark_id: str | None, model: str | None, modality: str | None, columns: list[str],
                 version: str, base_url: str, sims_table: str | None, for_csv: bool) -> tuple[str, list]:
    """(statement, params) giving the annotation export rows: current annotation x tag, in export order.

    ``columns``: names from ``EXPORT_COLUMNS`` (constants). ``encoder_*`` come from ``sims_table``, a
    registered relation (benchmark_id, pair_id, encoder_id, encoder_weights_sha256, encoder_similarity), or are
    NULL without it; ``medviz_version`` is ``version``; ``review_url`` starts with ``base_url``. Native types
    (lists, integers, timestamps) unless ``for_csv``: then every cell is text ('' for missing), text
    neutralised, floats printed like ``%.6g``. ``model`` keeps that model's annotations and those for all
    models; ``modality`` matches one of the target's modalities, any case.
    """
    from .views import outcome_label_sql
    inner = []
    for c in columns:
        expr, typ = EXPORT_COLUMNS[c]
        if c == "outcome":      # the label of the joined row only (not of every unit_outcomes row)
            expr = outcome_label_sql("uo")
        if c.startswith("encoder_") and not sims_table:
            expr = "NULL::DOUBLE" if typ == "float" else "NULL"
        if typ == "text":
            expr = f"coalesce(({expr})::VARCHAR, '')"
        inner.append(f'{expr} AS "{c}"')
    outer = typed_select([(c, EXPORT_COLUMNS[c][1]) for c in columns], for_csv)
    sims_join = (f"LEFT JOIN {sims_table} s ON a.target_type = 'pair' AND s.benchmark_id = a.benchmark_id "
                 "AND s.pair_id = a.target_id") if sims_table else ""
    # Item targets join their item and prediction directly (one row each, like a plain join); only pair
    # targets go through the per-pair aggregation of their two items.
    sql = f"""
    WITH ver AS (SELECT ?::VARCHAR AS v, ?::VARCHAR AS base),
    cur AS (SELECT * FROM annotation_revisions WHERE benchmark_id = coalesce(?, benchmark_id)
            QUALIFY row_number() OVER (PARTITION BY annotation_id ORDER BY revision DESC) = 1),
    a AS (SELECT *, unnest(tags) AS tag, generate_subscripts(tags, 1) AS tag_pos FROM cur
          WHERE NOT retracted AND (?::VARCHAR IS NULL OR model IS NULL OR model = ?)),
    t AS (SELECT DISTINCT benchmark_id, target_type, target_id FROM a WHERE target_type = 'pair'),
    it AS (SELECT t.benchmark_id, t.target_id, i.item_id, i.slot, i.image_ref, i.answer, i.modality,
                  i.categories, i.department, i.question, i.options
           FROM t JOIN items i ON i.benchmark_id = t.benchmark_id AND i.pair_id = t.target_id),
    pc AS (SELECT benchmark_id, target_id,
                  list(item_id ORDER BY slot, item_id) AS item_ids,
                  list(coalesce(image_ref, '') ORDER BY slot, item_id) AS image_ids,
                  list(coalesce(answer, '') ORDER BY slot, item_id) AS answers,
                  string_agg(DISTINCT modality, ' | ' ORDER BY modality) AS modality,
                  list_sort(list_distinct(flatten(list(categories)))) AS categories,
                  string_agg(DISTINCT department, ' | ' ORDER BY department) AS department,
                  string_agg(DISTINCT question, ' | ' ORDER BY question) AS question,
                  {_OPTIONS_LIST.format(o="min(options)")} AS options_list
           FROM it GROUP BY benchmark_id, target_id),
    pp AS (SELECT it.benchmark_id, it.target_id, p.model,
                  list(coalesce(p.raw, '') ORDER BY it.slot, it.item_id) AS raw,
                  list(coalesce(p.parsed, '') ORDER BY it.slot, it.item_id) AS parsed
           FROM it JOIN predictions p ON p.benchmark_id = it.benchmark_id AND p.item_id = it.item_id
           GROUP BY it.benchmark_id, it.target_id, p.model),
    rows AS (
        SELECT {", ".join(inner)},
               a.created_at AS _k_created, a.tag_pos AS _k_tag
        FROM a CROSS JOIN ver
        LEFT JOIN items i
               ON a.target_type = 'item' AND i.benchmark_id = a.benchmark_id AND i.item_id = a.target_id
        LEFT JOIN predictions p ON a.target_type = 'item' AND p.benchmark_id = a.benchmark_id
                               AND p.item_id = a.target_id AND p.model = a.model
        LEFT JOIN pc ON a.target_type = 'pair' AND pc.benchmark_id = a.benchmark_id AND pc.target_id = a.target_id
        LEFT JOIN pp ON a.target_type = 'pair' AND pp.benchmark_id = a.benchmark_id AND pp.target_id = a.target_id
                    AND pp.model = a.model
        LEFT JOIN unit_outcomes uo
               ON uo.benchmark_id = a.benchmark_id AND uo.unit_id = a.target_id AND uo.model = a.model
        LEFT JOIN pairs pr ON a.target_type = 'pair' AND pr.benchmark_id = a.benchmark_id
                          AND pr.pair_id = a.target_id
        {sims_join})
    SELECT {outer} FROM rows
    WHERE ?::VARCHAR IS NULL OR list_contains(list_transform(string_split("modality", '|'),
                                                             lambda x: lower(trim(x))), lower(trim(?)))
    ORDER BY benchmark_id, target_type, target_id, _k_created, annotation_id, _k_tag
    """
    return sql, [version, base_url, benchmark_id, model, model, modality, modality]


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


def _create_consensus(tx) -> None:
    tx.execute(_CONSENSUS_DDL)
    tx.execute("INSERT INTO annotation_consensus " + _consensus_select("annotation_revisions"))


_TOUCHED = ("(SELECT DISTINCT benchmark_id, target_type, target_id FROM annotation_revisions "
            "WHERE rev_id > ? AND rev_id <= ?)")
_FULL_REBUILD_SHARE = 0.25      # above this share of stale units, recomputing everything is cheaper


def consensus_lag(cur) -> tuple[int, int]:
    """(synced_rev, newest rev_id): the consensus is current when they are equal (one tiny read)."""
    synced, newest = cur.execute("SELECT (SELECT max(synced_rev) FROM annotation_consensus_state), "
                                 "(SELECT coalesce(max(rev_id), 0) FROM annotation_revisions)").fetchone()
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
                          f"HAVING NOT ({_ONE_REVISION}))", params).fetchone()[0]
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
        n_touched = tx.execute(f"SELECT count(*) FROM {_TOUCHED}", [synced, newest]).fetchone()[0]
        n_units = tx.execute("SELECT count(*) FROM annotation_consensus").fetchone()[0]
        full = n_touched > _FULL_REBUILD_SHARE * max(n_units, 1)
    if full:
        tx.execute("DELETE FROM annotation_consensus")
        _sync_units(tx, "annotation_revisions", [])
    else:
        tx.execute(f"DELETE FROM annotation_consensus c USING {_TOUCHED} t WHERE c.benchmark_id = t.benchmark_id "
                   "AND c.target_type = t.target_type AND c.target_id = t.target_id", [synced, newest])
        _sync_units(tx, f"annotation_revisions SEMI JOIN {_TOUCHED} t USING (benchmark_id, target_type, target_id)",
                    [synced, newest])
    tx.execute("UPDATE annotation_consensus_state SET synced_rev = ?", [newest])
    return newest - synced


def full_consensus(cur) -> "pd.DataFrame":
    """The consensus recomputed from every revision (what ``sync_consensus`` must always equal)."""
    return cur.execute(_consensus_select("annotation_revisions") + " ORDER BY unit").df()


def consensus(cur, benchmark_id: str) -> pd.DataFrame:
    """The materialised consensus of one benchmark's units."""
    return cur.execute("SELECT * FROM annotation_consensus WHERE benchmark_id = ? ORDER BY unit",
                       [benchmark_id]).df()


# Grouping dimensions of failure-mode statistics -> SQL expressions over the unit rows (constants only).
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
    SELECT n.*, t.tag, coalesce(k.count, 0) AS count
    FROM (SELECT {gs}, count(*) AS n FROM g GROUP BY ALL) n CROSS JOIN (SELECT DISTINCT tag FROM k) t
         LEFT JOIN k USING ({gs}, tag)
    ORDER BY {gs}, tag
    """
    df = cur.execute(sql, [benchmark_id, exclude_tag]).df()
    df = df.rename(columns={f"g{i}": b for i, b in enumerate(by)})
    return df.drop(columns=[f"g{i}" for i in range(len(dims)) if f"g{i}" in df.columns])


def reviewer_tags(cur, benchmark_id: str, all_models_label: str) -> pd.DataFrame:
    """(unit, reviewer, tags) of every current reviewer annotation (adjudications excluded): what agreement
    statistics need, without the rest of each row."""
    sql = f"""
    SELECT benchmark_id || '|' || target_type || '|' || target_id || '|' || coalesce(model, ?) AS unit,
           reviewer, tags
    FROM ({_CURRENT}) c WHERE NOT retracted AND kind = 'annotation'
    """
    return cur.execute(sql, [all_models_label, benchmark_id]).df()
