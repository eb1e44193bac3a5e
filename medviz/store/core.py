"""Benchmarks, items, pairs, models and predictions: schema and every SQL statement about them.

All statements are parameterised; table data travels as Arrow tables registered on the cursor. Replacing
a benchmark or a model's run happens inside one transaction, so a failure leaves the store as it was.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..scoring import rule_sql
from .db import first_record, first_row
from .outcomes import create_unit_facets, create_unit_outcomes, refresh_unit_outcomes

MIGRATIONS = [
    """
    CREATE TABLE benchmarks (
        benchmark_id VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, source VARCHAR, images_dir VARCHAR,
        n_items INTEGER, n_pairs INTEGER, synthetic BOOLEAN DEFAULT FALSE, note VARCHAR, imported_at TIMESTAMP);
    CREATE TABLE items (
        benchmark_id VARCHAR NOT NULL, item_id VARCHAR NOT NULL, pair_id VARCHAR, slot TINYINT,
        question VARCHAR, options VARCHAR, n_options TINYINT, answer VARCHAR,
        image_ref VARCHAR, image_path VARCHAR, image_status VARCHAR, image_sha256 VARCHAR,
        modality VARCHAR, categories VARCHAR[], department VARCHAR, task VARCHAR, granularity VARCHAR,
        caption VARCHAR, extra VARCHAR);
    CREATE TABLE pairs (
        benchmark_id VARCHAR NOT NULL, pair_id VARCHAR NOT NULL, item_1 VARCHAR, item_2 VARCHAR,
        biomedclip_sim DOUBLE, dino_sim DOUBLE, ai_question VARCHAR, ai_option_a VARCHAR,
        ai_option_b VARCHAR, extra VARCHAR);
    CREATE TABLE models (
        benchmark_id VARCHAR NOT NULL, model VARCHAR NOT NULL, source VARCHAR, mode VARCHAR,
        synthetic BOOLEAN DEFAULT FALSE, note VARCHAR, n_predictions INTEGER, imported_at TIMESTAMP);
    CREATE TABLE predictions (
        benchmark_id VARCHAR NOT NULL, model VARCHAR NOT NULL, item_id VARCHAR NOT NULL,
        raw VARCHAR, score_a DOUBLE, score_b DOUBLE, parsed VARCHAR, correct BOOLEAN,
        hit INTEGER, log VARCHAR);
    CREATE INDEX items_bench ON items(benchmark_id, item_id);
    CREATE INDEX preds_bench ON predictions(benchmark_id, model)
    """,
    # v2: one row per (review unit, model), kept in step with predictions (see refresh_unit_outcomes)
    lambda tx: create_unit_outcomes(tx),
    # v3: a unit's modalities and categories as rows, so filters are hash semi-joins rather than list scans
    lambda tx: create_unit_facets(tx),
    # v4: MediConfusion's judge threshold (--tr) stored with each run; `correct` re-derived from the one rule
    lambda tx: _add_run_threshold(tx),
    # v5: why an image is missing or unreadable (empty, truncated, over the pixel limit, outside the folder...)
    "ALTER TABLE items ADD COLUMN IF NOT EXISTS image_reason VARCHAR",
    # v6: the 'image' facet (units with a missing or unreadable image) for the Errors filter "image problems"
    lambda tx: create_unit_facets(tx, create=False),
    # v7: the options as the list the export writes (["A: ...", ...], letter order), made once at ingest
    # instead of parsing the options JSON for every exported row (most of the export's time)
    lambda tx: _add_option_list(tx),
]

# options JSON {"A": "...", ...} -> ["A: ...", ...] in the JSON's (letter) order; the loaders build the same
# list in Python (``option_list``); this SQL fills rows ingested before v7
OPTIONS_LIST_SQL = ("list_transform(json_keys({o}), "
                    "lambda k: k || ': ' || json_extract_string({o}, '$.\"' || k || '\"'))")


def option_list(options: dict[str, str]) -> list[str]:
    """What ``OPTIONS_LIST_SQL`` gives for these options (``items.option_list``)."""
    return [f"{k}: {v}" for k, v in options.items()]


def _add_option_list(tx) -> None:
    tx.execute("ALTER TABLE items ADD COLUMN IF NOT EXISTS option_list VARCHAR[]")
    tx.execute(f"UPDATE items SET option_list = {OPTIONS_LIST_SQL.format(o='options')} WHERE options IS NOT NULL")

def _add_run_threshold(tx) -> None:
    tx.execute("ALTER TABLE models ADD COLUMN tr DOUBLE")
    # runs imported before v4 were parsed with the official default, 3
    tx.execute("UPDATE models SET tr = 3 WHERE benchmark_id IN "
               "(SELECT benchmark_id FROM benchmarks WHERE kind = 'mediconfusion')")
    tx.execute(f"""UPDATE predictions p SET correct = {rule_sql("correct", parsed="p.parsed", answer="i.answer")}
                   FROM items i WHERE i.benchmark_id = p.benchmark_id AND i.item_id = p.item_id""")


ITEM_SCHEMA = pa.schema([
    ("benchmark_id", pa.string()), ("item_id", pa.string()), ("pair_id", pa.string()), ("slot", pa.int8()),
    ("question", pa.string()), ("options", pa.string()), ("n_options", pa.int8()), ("answer", pa.string()),
    ("image_ref", pa.string()), ("image_path", pa.string()), ("image_status", pa.string()),
    ("image_sha256", pa.string()), ("image_reason", pa.string()), ("modality", pa.string()), ("categories", pa.list_(pa.string())),
    ("department", pa.string()), ("task", pa.string()), ("granularity", pa.string()),
    ("caption", pa.string()), ("extra", pa.string()), ("option_list", pa.list_(pa.string())),
])
PAIR_SCHEMA = pa.schema([
    ("benchmark_id", pa.string()), ("pair_id", pa.string()), ("item_1", pa.string()), ("item_2", pa.string()),
    ("biomedclip_sim", pa.float64()), ("dino_sim", pa.float64()), ("ai_question", pa.string()),
    ("ai_option_a", pa.string()), ("ai_option_b", pa.string()), ("extra", pa.string()),
])
PREDICTION_SCHEMA = pa.schema([
    ("benchmark_id", pa.string()), ("model", pa.string()), ("item_id", pa.string()), ("raw", pa.string()),
    ("score_a", pa.float64()), ("score_b", pa.float64()), ("parsed", pa.string()), ("correct", pa.bool_()),
    ("hit", pa.int32()), ("log", pa.string()),
])


def _now():
    return datetime.now(timezone.utc).replace(tzinfo=None)


ITEM_COLUMNS = ITEM_SCHEMA.names[1:]      # what a loader gives per item (benchmark_id is the load's)
ITEM_COLUMNS_SCHEMA = pa.schema(list(ITEM_SCHEMA)[1:])


def item_columns_batch(cols: dict[str, list]) -> pa.RecordBatch:
    """Items given as columns (one list per name in ITEM_COLUMNS) -> one Arrow batch (ITEM_COLUMNS_SCHEMA)."""
    return pa.record_batch([cols[name] for name in ITEM_COLUMNS], schema=ITEM_COLUMNS_SCHEMA)


def item_table_to_arrow(benchmark_id: str, table: pa.Table) -> pa.Table:
    """A loader's item table (ITEM_COLUMNS_SCHEMA) with the benchmark id in front: ITEM_SCHEMA."""
    return table.add_column(0, ITEM_SCHEMA.field(0), pa.array([benchmark_id] * table.num_rows, pa.string()))


def items_to_arrow(benchmark_id: str, items) -> pa.Table:
    """Item objects (MediConfusion, GMAI loaders) -> an Arrow table in ITEM_SCHEMA."""
    cols = {name: [] for name in ITEM_COLUMNS}
    for it in items:
        cols["item_id"].append(it.item_id)
        cols["pair_id"].append(it.pair_id)
        cols["slot"].append(it.slot)
        cols["question"].append(it.question)
        cols["options"].append(it.options_json())
        cols["n_options"].append(len(it.options))
        cols["answer"].append(it.answer)
        cols["image_ref"].append(it.image_ref)
        cols["image_path"].append(it.image_path)
        cols["image_status"].append(it.image_status)
        cols["image_sha256"].append(it.image_sha256)
        cols["image_reason"].append(it.image_reason)
        cols["modality"].append(it.modality)
        cols["categories"].append(list(it.categories))
        cols["department"].append(it.department)
        cols["task"].append(it.task)
        cols["granularity"].append(it.granularity)
        cols["caption"].append(it.caption)
        cols["extra"].append(json.dumps(it.extra, ensure_ascii=False) if it.extra else None)
        cols["option_list"].append(option_list(it.options))
    return item_table_to_arrow(benchmark_id, pa.Table.from_batches([item_columns_batch(cols)]))


def pairs_to_arrow(benchmark_id: str, pairs) -> pa.Table:
    rows = [{"benchmark_id": benchmark_id, "pair_id": p.pair_id, "item_1": p.item_1, "item_2": p.item_2,
             "biomedclip_sim": p.biomedclip_sim, "dino_sim": p.dino_sim, "ai_question": p.ai_question,
             "ai_option_a": p.ai_option_a, "ai_option_b": p.ai_option_b,
             "extra": json.dumps(p.extra) if p.extra else None} for p in pairs]
    return pa.Table.from_pylist(rows, schema=PAIR_SCHEMA)


# --- writes (call inside Store.transaction()) ---------------------------------------------------------

def delete_benchmark(tx, benchmark_id: str) -> None:
    """Everything stored per benchmark, in the caller's transaction (annotations and the embedding cache,
    keyed by unit and by image content, stay); its stored embedding maps go too."""
    from .embeddings import delete_benchmark_maps
    for table in ("unit_facets", "unit_outcomes", "predictions", "models", "pairs", "items", "benchmarks"):
        tx.execute(f"DELETE FROM {table} WHERE benchmark_id = ?", [benchmark_id])  # table names are constants
    delete_benchmark_maps(tx, benchmark_id)


def insert_benchmark(tx, benchmark_id: str, kind: str, source: str, images_dir: str | None,
                     synthetic: bool = False, note: str | None = None) -> None:
    tx.execute("INSERT INTO benchmarks VALUES (?, ?, ?, ?, 0, 0, ?, ?, ?)",
               [benchmark_id, kind, source, images_dir, synthetic, note, _now()])


def append_items(tx, table: pa.Table) -> None:
    tx.register("_items_batch", table)
    tx.execute("INSERT INTO items BY NAME SELECT * FROM _items_batch")
    tx.unregister("_items_batch")


def append_pairs(tx, table: pa.Table) -> None:
    tx.register("_pairs_batch", table)
    tx.execute("INSERT INTO pairs BY NAME SELECT * FROM _pairs_batch")
    tx.unregister("_pairs_batch")


def finish_benchmark(tx, benchmark_id: str) -> tuple[int, int]:
    n_items = first_row(tx.execute("SELECT count(*) FROM items WHERE benchmark_id = ?", [benchmark_id]))[0]
    n_pairs = first_row(tx.execute("SELECT count(*) FROM pairs WHERE benchmark_id = ?", [benchmark_id]))[0]
    tx.execute("UPDATE benchmarks SET n_items = ?, n_pairs = ? WHERE benchmark_id = ?",
               [n_items, n_pairs, benchmark_id])
    return n_items, n_pairs


def duplicate_item_ids(tx, benchmark_id: str) -> list[str]:
    return [r[0] for r in tx.execute(
        "SELECT item_id FROM items WHERE benchmark_id = ? GROUP BY item_id HAVING count(*) > 1 LIMIT 5",
        [benchmark_id]).fetchall()]


def benchmark_image_paths(tx, benchmark_id: str) -> list[str]:
    return [r[0] for r in tx.execute("SELECT DISTINCT image_path FROM items WHERE benchmark_id = ? "
                                     "AND image_path IS NOT NULL", [benchmark_id]).fetchall()]


def image_status_counts(cur, benchmark_id: str) -> dict[str, int]:
    return dict(cur.execute("SELECT image_status, count(*) FROM items WHERE benchmark_id = ? GROUP BY 1 "
                            "ORDER BY 1", [benchmark_id]).fetchall())


def image_problems(cur, benchmark_id: str, *, limit: int = 5, reason_prefix: str | None = None) -> list[dict]:
    """Items whose image is not ok, in file order of ids, optionally only reasons starting with a prefix."""
    sql = ("SELECT item_id, pair_id, slot, image_status, image_reason FROM items WHERE benchmark_id = ? "
           "AND image_status <> 'ok'")
    params: list = [benchmark_id]
    if reason_prefix:
        sql += " AND starts_with(image_reason, ?)"
        params.append(reason_prefix)
    cols = ["item_id", "pair_id", "slot", "image_status", "image_reason"]
    rows = cur.execute(sql + " ORDER BY item_id LIMIT ?", params + [limit]).fetchall()
    return [dict(zip(cols, r)) for r in rows]


def replace_predictions(tx, benchmark_id: str, model: str, table: pa.Table, *, source: str, mode: str | None,
                        synthetic: bool, note: str | None, tr: float | None = None) -> int:
    tx.execute("DELETE FROM predictions WHERE benchmark_id = ? AND model = ?", [benchmark_id, model])
    tx.execute("DELETE FROM models WHERE benchmark_id = ? AND model = ?", [benchmark_id, model])
    tx.register("_pred_batch", table)
    # `correct` is derived here, from the one rule, whatever the caller put in the column
    tx.execute(f"""INSERT INTO predictions BY NAME
                   SELECT b.* EXCLUDE (correct), {rule_sql("correct", parsed="b.parsed", answer="i.answer")} AS correct
                   FROM _pred_batch b LEFT JOIN items i ON i.benchmark_id = b.benchmark_id AND i.item_id = b.item_id""")
    tx.unregister("_pred_batch")
    tx.execute("INSERT INTO models (benchmark_id, model, source, mode, synthetic, note, n_predictions, imported_at, "
               "tr) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
               [benchmark_id, model, source, mode, synthetic, note, table.num_rows, _now(), tr])
    refresh_unit_outcomes(tx, benchmark_id, model)
    return table.num_rows


# --- reads --------------------------------------------------------------------------------------------

def benchmark(cur, benchmark_id: str) -> dict | None:
    df = cur.execute("SELECT * FROM benchmarks WHERE benchmark_id = ?", [benchmark_id]).df()
    return None if df.empty else df.iloc[0].to_dict()


def benchmarks(cur) -> pd.DataFrame:
    return cur.execute("SELECT * FROM benchmarks ORDER BY benchmark_id").df()


def models(cur, benchmark_id: str) -> pd.DataFrame:
    return cur.execute("SELECT * FROM models WHERE benchmark_id = ? ORDER BY model", [benchmark_id]).df()


def items(cur, benchmark_id: str, *, columns: str = "*") -> pd.DataFrame:
    # `columns` is chosen by code, never by users
    return cur.execute(f"SELECT {columns} FROM items WHERE benchmark_id = ? ORDER BY item_id",
                       [benchmark_id]).df()


def unknown_items(cur, benchmark_id: str, item_ids: pa.Array) -> tuple[str | None, int]:
    """(the first of ``item_ids``, in their order, that is not an item of the benchmark, how many are not);
    (None, 0) when every id is one. Joined in DuckDB: no copy of the benchmark's items in Python."""
    cur.register("_ids", pa.table({"n": pa.array(range(len(item_ids)), pa.int64()), "item_id": item_ids}))
    try:
        return tuple(cur.execute(
            "SELECT arg_min(item_id, n), count(*) FROM _ids p WHERE NOT EXISTS "
            "(SELECT 1 FROM items i WHERE i.benchmark_id = ? AND i.item_id = p.item_id)", [benchmark_id]).fetchall()[0])
    finally:
        cur.unregister("_ids")


def item_options(cur, benchmark_id: str, item_ids: pa.Array) -> pa.DictionaryArray:
    """Each id's options (JSON), in the ids' order, dictionary-encoded (benchmarks repeat option sets)."""
    cur.register("_ids", pa.table({"n": pa.array(range(len(item_ids)), pa.int64()), "item_id": item_ids}))
    try:
        col = cur.sql("SELECT i.options FROM _ids p LEFT JOIN items i ON i.benchmark_id = $1 "
                      "AND i.item_id = p.item_id ORDER BY p.n", params=[benchmark_id]).to_arrow_table().column(0)
    finally:
        cur.unregister("_ids")
    return pc.dictionary_encode(col.combine_chunks())


def item(cur, benchmark_id: str, item_id: str) -> dict | None:
    return first_record(cur.execute("SELECT * FROM items WHERE benchmark_id = ? AND item_id = ?",
                                    [benchmark_id, item_id]))


def pairs(cur, benchmark_id: str) -> pd.DataFrame:
    return cur.execute("SELECT * FROM pairs WHERE benchmark_id = ? ORDER BY pair_id", [benchmark_id]).df()


def pair(cur, benchmark_id: str, pair_id: str) -> dict | None:
    return first_record(cur.execute("SELECT * FROM pairs WHERE benchmark_id = ? AND pair_id = ?",
                                    [benchmark_id, pair_id]))


def predictions_for_items(cur, benchmark_id: str, item_ids: list[str], models: list[str] | None = None) -> pd.DataFrame:
    sql = ("SELECT p.*, m.synthetic FROM predictions p JOIN models m USING (benchmark_id, model) "
           "WHERE p.benchmark_id = ? AND list_contains(?, p.item_id)")
    params: list = [benchmark_id, item_ids]
    if models:
        sql += " AND list_contains(?, p.model)"
        params.append(models)
    return cur.execute(sql + " ORDER BY p.model, p.item_id", params).df()


def scoring_frame(cur, benchmark_id: str, models: list[str] | None = None, *,
                  categories: bool = False) -> pd.DataFrame:
    """One row per (model, item): what scoring needs. List-valued ``categories`` only on request: turning
    a million small lists into Python objects costs more than the scoring itself."""
    # `category`: VLMEvalKit's single category column (GMAI-MMBench); NULL for items with none or several
    cols = ("p.model, p.item_id, p.parsed, i.answer, i.pair_id, i.slot, i.n_options, i.modality, i.department, "
            "i.task, i.granularity, CASE WHEN len(i.categories) = 1 THEN i.categories[1] END AS category"
            + (", i.categories" if categories else ""))
    sql = (f"SELECT {cols} FROM predictions p JOIN items i ON i.benchmark_id = p.benchmark_id "
           "AND i.item_id = p.item_id WHERE p.benchmark_id = ?")
    params: list = [benchmark_id]
    if models:
        sql += " AND list_contains(?, p.model)"
        params.append(models)
    return cur.execute(sql, params).df()
