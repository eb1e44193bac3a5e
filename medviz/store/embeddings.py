"""Encoder embeddings and explanation caches: schema and every SQL statement about them.

An embedding is keyed by (encoder id, weights digest, decode mode, image sha256): the same image file shared by
two benchmarks is embedded once, new weights under an old id never mix with old vectors, and a vector computed
from a reduced-scale (draft) JPEG decode is never served for an exact-decode request or the other way round
(``decode``: ``exact``, ``draft:<gap>``, see ``encoders.prep.decode_mode``; ``unknown`` for vectors stored
before the mode was recorded, and for vectors pushed by a client that does not say). ``embed_runs``
records each ``medviz embed`` run (the provenance shown next to every number); ``visual_diffs`` caches the
weight-free SSIM / histogram distance of two image contents.
"""
from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pyarrow as pa

from .db import first_row

MIGRATIONS = [
    """
    CREATE TABLE embeddings (
        encoder_id VARCHAR NOT NULL, weights_digest VARCHAR NOT NULL, image_sha256 VARCHAR NOT NULL,
        dim INTEGER NOT NULL, vec FLOAT[] NOT NULL, computed_at TIMESTAMP);
    CREATE INDEX embeddings_key ON embeddings(encoder_id, weights_digest, image_sha256);
    CREATE TABLE embed_runs (
        benchmark_id VARCHAR NOT NULL, encoder_id VARCHAR NOT NULL, weights_digest VARCHAR NOT NULL,
        source VARCHAR, device VARCHAR, n_new INTEGER, n_cached INTEGER, n_missing INTEGER, n_failed INTEGER,
        images_per_s DOUBLE, finished_at TIMESTAMP);
    CREATE TABLE visual_diffs (
        sha_1 VARCHAR NOT NULL, sha_2 VARCHAR NOT NULL, method VARCHAR NOT NULL,
        ssim DOUBLE, hist_distance DOUBLE, computed_at TIMESTAMP)
    """,
    # v2: the 2-D map of a benchmark under an encoder, computed when its vectors change (``medviz embed``),
    # with a fingerprint of the vectors it was drawn from (which items, which image contents) to tell it stale
    """
    CREATE TABLE embedding_maps (
        benchmark_id VARCHAR NOT NULL, encoder_id VARCHAR NOT NULL, method VARCHAR NOT NULL,
        weights_digest VARCHAR NOT NULL, inputs VARCHAR NOT NULL, n_points INTEGER, seconds DOUBLE,
        computed_at TIMESTAMP);
    CREATE TABLE embedding_map_points (
        benchmark_id VARCHAR NOT NULL, encoder_id VARCHAR NOT NULL, method VARCHAR NOT NULL,
        item_id VARCHAR NOT NULL, x DOUBLE, y DOUBLE)
    """,
    # v3: the JPEG decode mode is part of a vector's key (a draft decode changes the pixels the encoder sees).
    # Vectors stored before: the weight-free pixels encoder never drafts ('exact'); for the others the mode
    # was not recorded ('unknown': still read, never matched by a new run, which embeds its own mode).
    # The lookup index: a single-column ART index on image_sha256 serves the point lookup of a pair's vectors
    # (< 1 ms at 100k rows, ``vectors_for_hashes``); DuckDB never used the 3-column one for it (a full scan,
    # ~20 ms). bench/embed_lookup.py measures both.
    """
    ALTER TABLE embeddings ADD COLUMN decode VARCHAR;
    UPDATE embeddings SET decode = CASE WHEN encoder_id = 'pixels' THEN 'exact' ELSE 'unknown' END;
    ALTER TABLE embed_runs ADD COLUMN decode VARCHAR;
    UPDATE embed_runs SET decode = CASE WHEN encoder_id = 'pixels' THEN 'exact' ELSE 'unknown' END;
    DROP INDEX embeddings_key;
    CREATE INDEX embeddings_sha ON embeddings(image_sha256)
    """,
]


def _now():
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _arrow(cur, query: str, params) -> pa.Table:
    """Run a parameterised query and return an Arrow table: a relation (``cur.sql``), which DuckDB turns into
    Arrow without the extra copy (and the warning) of a DB-API result, and which leaves no pending result on the
    cursor."""
    return cur.sql(query, params=list(params) if params is not None else None).to_arrow_table()


def _vectors(table: pa.Table, column: str = "vec") -> np.ndarray:
    """A list<float> Arrow column as an (n, dim) float32 array without Python loops."""
    col = table.column(column).combine_chunks()
    if len(col) == 0:
        return np.zeros((0, 0), dtype=np.float32)
    flat = col.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    return flat.reshape(len(col), -1)


# --- writes (call inside Store.transaction()) ---------------------------------------------------------

def insert_embeddings(tx, encoder_id: str, weights_digest: str, hashes: list[str], vecs: np.ndarray, *,
                      decode: str) -> int:
    """Add vectors for image hashes not yet cached under this encoder + digest + decode mode; returns rows added."""
    vecs = np.ascontiguousarray(vecs, dtype=np.float32)
    n, dim = vecs.shape
    table = pa.table({
        "image_sha256": pa.array(hashes, pa.string()),
        "vec": pa.FixedSizeListArray.from_arrays(pa.array(vecs.ravel()), dim).cast(pa.list_(pa.float32())),
    })
    tx.register("_emb_batch", table)
    added = first_row(tx.execute(
        "INSERT INTO embeddings (encoder_id, weights_digest, image_sha256, dim, vec, computed_at, decode) "
        "SELECT ?, ?, b.image_sha256, ?, b.vec, ?, ? FROM "
        "(SELECT DISTINCT ON (image_sha256) * FROM _emb_batch) b WHERE NOT EXISTS ("
        "SELECT 1 FROM embeddings e WHERE e.encoder_id = ? AND e.weights_digest = ? AND e.decode = ? "
        "AND e.image_sha256 = b.image_sha256)",
        [encoder_id, weights_digest, dim, _now(), decode, encoder_id, weights_digest, decode]))[0]
    tx.unregister("_emb_batch")
    return int(added)


def replace_map(tx, benchmark_id: str, encoder_id: str, method: str, weights_digest: str, inputs: str,
                item_ids, xy: np.ndarray, seconds: float | None = None) -> int:
    """Store a benchmark's 2-D map under an encoder (replacing the previous one for this method)."""
    for table in ("embedding_maps", "embedding_map_points"):      # constant table names
        tx.execute(f"DELETE FROM {table} WHERE benchmark_id = ? AND encoder_id = ? AND method = ?",
                   [benchmark_id, encoder_id, method])
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    tx.register("_map_batch", pa.table({"item_id": pa.array(item_ids, pa.string()), "x": xy[:, 0], "y": xy[:, 1]}))
    try:
        tx.execute("INSERT INTO embedding_map_points SELECT ?, ?, ?, item_id, x, y FROM _map_batch",
                   [benchmark_id, encoder_id, method])
    finally:
        tx.unregister("_map_batch")
    tx.execute("INSERT INTO embedding_maps VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               [benchmark_id, encoder_id, method, weights_digest, inputs, len(xy), seconds, _now()])
    return len(xy)


def delete_benchmark_maps(tx, benchmark_id: str) -> None:
    """A deleted (or re-ingested) benchmark's stored maps go with it (``core.delete_benchmark``, same
    transaction). Vectors stay: they are keyed by image content, which other benchmarks may share."""
    for table in ("embedding_maps", "embedding_map_points"):      # constant table names
        tx.execute(f"DELETE FROM {table} WHERE benchmark_id = ?", [benchmark_id])


def record_run(tx, benchmark_id: str, encoder_id: str, weights_digest: str, *, decode: str, source: str,
               device: str, n_new: int, n_cached: int, n_missing: int, n_failed: int,
               images_per_s: float | None) -> None:
    tx.execute("INSERT INTO embed_runs (benchmark_id, encoder_id, weights_digest, source, device, n_new, n_cached, "
               "n_missing, n_failed, images_per_s, finished_at, decode) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               [benchmark_id, encoder_id, weights_digest, source, device, n_new, n_cached, n_missing, n_failed,
                images_per_s, _now(), decode])


def insert_visual_diff(tx, sha_1: str, sha_2: str, method: str, ssim: float, hist_distance: float) -> None:
    a, b = sorted((sha_1, sha_2))
    tx.execute("DELETE FROM visual_diffs WHERE sha_1 = ? AND sha_2 = ? AND method = ?", [a, b, method])
    tx.execute("INSERT INTO visual_diffs VALUES (?, ?, ?, ?, ?, ?)", [a, b, method, ssim, hist_distance, _now()])


# --- reads --------------------------------------------------------------------------------------------

def embedding_todo(cur, benchmark_id: str, encoder_id: str, weights_digest: str, *, decode: str) -> pd.DataFrame:
    """One row per distinct image content of the benchmark, with ``cached`` and the item ids using it.

    Items without an image (status not ok, no path or no hash) come back with ``image_sha256`` NULL.
    """
    return cur.execute(
        "WITH imgs AS (SELECT CASE WHEN image_status = 'ok' AND image_path IS NOT NULL THEN image_sha256 END "
        "AS sha, image_path, item_id FROM items WHERE benchmark_id = ?) "
        "SELECT i.sha AS image_sha256, any_value(i.image_path) AS image_path, count(*) AS n_items, "
        "bool_or(e.image_sha256 IS NOT NULL) AS cached FROM imgs i LEFT JOIN embeddings e "
        "ON e.encoder_id = ? AND e.weights_digest = ? AND e.decode = ? AND e.image_sha256 = i.sha "
        "GROUP BY i.sha", [benchmark_id, encoder_id, weights_digest, decode]).df()


def benchmark_embeddings(cur, benchmark_id: str, encoder_id: str, weights_digest: str, *, decode: str,
                         pairs_only: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
    """Items of the benchmark that have a cached vector: metadata frame and the (n, dim) matrix, same order.
    ``pairs_only``: only items in a pair (what pair similarities need; a benchmark without pairs reads none)."""
    t = _arrow(cur,
               "SELECT i.item_id, i.pair_id, i.slot, i.modality, i.answer, i.categories, i.image_sha256, e.vec "
               "FROM items i JOIN embeddings e ON e.image_sha256 = i.image_sha256 "
               "AND e.encoder_id = ? AND e.weights_digest = ? AND e.decode = ? "
               "WHERE i.benchmark_id = ? AND i.image_status = 'ok'"
               + (" AND i.pair_id IS NOT NULL" if pairs_only else "") + " ORDER BY i.item_id",
               [encoder_id, weights_digest, decode, benchmark_id])
    vecs = _vectors(t)
    return t.drop_columns(["vec"]).to_pandas(), vecs


_MAP_INPUTS = ("FROM items i JOIN embeddings e ON e.image_sha256 = i.image_sha256 AND e.encoder_id = ? "
               "AND e.weights_digest = ? AND e.decode = ? WHERE i.benchmark_id = ? AND i.image_status = 'ok'")
# (the same rows as benchmark_embeddings)


def map_inputs(cur, benchmark_id: str, encoder_id: str, weights_digest: str, *, decode: str) -> str:
    """A fingerprint of what a map is drawn from: the items ``benchmark_embeddings`` returns, with their image
    contents (a vector is fixed by encoder, digest, decode mode and content). Differs when an image is embedded,
    an item is added, removed or re-pointed, the benchmark is ingested again with other images, or the map would
    be drawn from vectors of another decode mode."""
    n, h = cur.execute(f"SELECT count(*), bit_xor(hash(i.item_id, i.image_sha256)) {_MAP_INPUTS}",
                       [encoder_id, weights_digest, decode, benchmark_id]).fetchall()[0]
    return f"{weights_digest}:{decode}:{n}:{h or 0:016x}"


def stored_map_info(cur, benchmark_id: str, encoder_id: str, method: str) -> dict | None:
    rows = cur.execute("SELECT weights_digest, inputs, n_points, seconds, computed_at FROM embedding_maps "
                       "WHERE benchmark_id = ? AND encoder_id = ? AND method = ?",
                       [benchmark_id, encoder_id, method]).fetchall()
    if not rows:
        return None
    return dict(zip(("weights_digest", "inputs", "n_points", "seconds", "computed_at"), rows[0]))


def stored_map(cur, benchmark_id: str, encoder_id: str, method: str) -> pd.DataFrame:
    """The stored map's points with the item columns ``benchmark_embeddings`` gives, in item order."""
    return _arrow(cur,
                  "SELECT i.item_id, m.x, m.y, i.pair_id, i.slot, i.modality, i.answer, i.categories, i.image_sha256 "
                  "FROM embedding_map_points m JOIN items i ON i.benchmark_id = m.benchmark_id "
                  "AND i.item_id = m.item_id WHERE m.benchmark_id = ? AND m.encoder_id = ? AND m.method = ? "
                  "ORDER BY i.item_id", [benchmark_id, encoder_id, method]).to_pandas()


def vectors_for_hashes(cur, encoder_id: str, weights_digest: str, hashes: list[str], *,
                       decode: str) -> dict[str, np.ndarray]:
    """The cached vectors of a few image contents (a pair's two): a point lookup through the ART index on
    ``image_sha256``. The query filters on ``image_sha256`` alone and the key columns are checked on the few
    rows it returns (every encoder, weights and decode mode of those contents): DuckDB 2.0 plans an index
    scan only when the indexed column is the scan's only filter; with ``encoder_id = ?`` beside it (even
    through a CTE, whose filters it pushes down) it scans every vector (~20 ms at 100k against ~1 ms;
    bench/embed_lookup.py, tests/test_embeddings_lookup.py)."""
    import pyarrow.compute as pc
    hashes = list(dict.fromkeys(hashes))
    if not hashes:
        return {}
    marks = ", ".join("?" * len(hashes))
    t = _arrow(cur, f"SELECT encoder_id, weights_digest, decode, image_sha256, vec FROM embeddings "
                    f"WHERE image_sha256 IN ({marks})", hashes)
    t = t.filter(pc.and_(pc.and_(pc.equal(t["encoder_id"], encoder_id), pc.equal(t["weights_digest"], weights_digest)),
                         pc.equal(t["decode"], decode)))
    vecs = _vectors(t)
    return dict(zip(t.column("image_sha256").to_pylist(), vecs))


def benchmarks_with_images(cur, hashes: list[str]) -> list[str]:
    """Benchmarks with an item showing one of these image contents (whose maps new vectors change)."""
    return [r[0] for r in cur.execute(
        "SELECT DISTINCT benchmark_id FROM items WHERE image_sha256 IN (SELECT unnest(?)) ORDER BY 1",
        [list(hashes)]).fetchall()]


def computed_encoders(cur, benchmark_id: str) -> list[str]:
    return [r[0] for r in cur.execute(
        "SELECT DISTINCT e.encoder_id FROM embeddings e JOIN items i ON i.image_sha256 = e.image_sha256 "
        "WHERE i.benchmark_id = ? AND i.image_status = 'ok' ORDER BY e.encoder_id", [benchmark_id]).fetchall()]


def latest_run(cur, benchmark_id: str, encoder_id: str) -> dict | None:
    df = cur.execute("SELECT * FROM embed_runs WHERE benchmark_id = ? AND encoder_id = ? "
                     "ORDER BY finished_at DESC LIMIT 1", [benchmark_id, encoder_id]).df()
    return None if df.empty else df.iloc[0].to_dict()


def best_key(cur, benchmark_id: str, encoder_id: str, weights_digest: str | None = None) -> tuple[str, str] | None:
    """The (weights digest, decode mode) of the vectors to read for this benchmark: the one with the most of
    its images cached (the latest vector wins ties); only among vectors of ``weights_digest`` when given.
    None when the encoder has no vectors. When the encoder has a single set of vectors (the usual case) that
    set is returned without counting the benchmark's images in it (a join of every item with every vector:
    ~14 ms per pair on the Review page at 100k, against ~2.5 ms; bench/embed_lookup.py); a benchmark with
    none of its images there then reads no vectors, as with no key at all."""
    keys = cur.execute("SELECT weights_digest, decode FROM embeddings WHERE encoder_id = ? "
                       "AND (CAST(? AS VARCHAR) IS NULL OR weights_digest = ?) GROUP BY 1, 2 LIMIT 2",
                       [encoder_id, weights_digest, weights_digest]).fetchall()
    if len(keys) < 2:
        return tuple(keys[0]) if keys else None
    row = first_row(cur.execute(
        "SELECT e.weights_digest, e.decode, count(*) AS n, max(e.computed_at) AS t FROM embeddings e JOIN items i "
        "ON i.image_sha256 = e.image_sha256 WHERE i.benchmark_id = ? AND e.encoder_id = ? "
        "AND (CAST(? AS VARCHAR) IS NULL OR e.weights_digest = ?) "
        "GROUP BY e.weights_digest, e.decode ORDER BY n DESC, t DESC LIMIT 1",
        [benchmark_id, encoder_id, weights_digest, weights_digest]))
    return (row[0], row[1]) if row else None


def runs(cur, benchmark_id: str | None = None) -> pd.DataFrame:
    if benchmark_id is None:
        return cur.execute("SELECT * FROM embed_runs ORDER BY finished_at").df()
    return cur.execute("SELECT * FROM embed_runs WHERE benchmark_id = ? ORDER BY finished_at", [benchmark_id]).df()


def visual_diff(cur, sha_1: str, sha_2: str, method: str) -> tuple[float, float] | None:
    a, b = sorted((sha_1, sha_2))
    row = first_row(cur.execute("SELECT ssim, hist_distance FROM visual_diffs WHERE sha_1 = ? AND sha_2 = ? AND method = ?",
                      [a, b, method]))
    return (row[0], row[1]) if row else None
