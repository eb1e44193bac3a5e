"""Read models for the app: the Errors table (filters, paging, counts), review units and filter facets.

No tables of its own (nothing to register). A *unit* is what the Review page shows: a pair (two items
sharing ``pair_id``) or, on benchmarks without pairs, a single item. Every statement is parameterised; the
WHERE clause is assembled only from the constant fragments below, never from user text.
"""
from __future__ import annotations

import pandas as pd

from .db import first_row

# One row per (unit, model), materialised by medviz.store.core at prediction import (table unit_outcomes);
# migration core v2 fills it for databases made before it existed. Params: see _cte_params.
_MATERIALISED_CTE = """
WITH x AS (
    SELECT * FROM unit_outcomes WHERE benchmark_id = ? AND (? OR model IN (SELECT unnest(?::VARCHAR[])))
)
"""
_ORDER = "unit_no, model"


def _cte_params(benchmark_id: str, models: list[str] | None) -> list:
    return [benchmark_id, not models, list(models or [])]


OUTCOMES = ("correct", "wrong", "confused", "invalid", "error")
_OUTCOME_SQL = {
    "correct": "all_correct",
    "wrong": "any_wrong",
    "confused": "confused",
    "invalid": "any_invalid",
    "error": "NOT all_correct",            # anything not fully right: wrong, confused or invalid
}


def outcome_label_sql(alias: str) -> str:
    """SQL for the one outcome label of a ``unit_outcomes`` row ``alias``: correct, else confused (the same
    letter for both images), else invalid (a letter missing), else wrong. NULL without a row."""
    return (f"CASE WHEN {alias}.all_correct THEN 'correct' WHEN {alias}.confused THEN 'confused' "
            f"WHEN {alias}.any_invalid THEN 'invalid' WHEN {alias}.unit_id IS NOT NULL THEN 'wrong' END")


_FACET = ("unit_no IN (SELECT unit_no FROM unit_facets WHERE benchmark_id = ? AND facet = '{facet}' "
          "AND value IN (SELECT unnest(?::VARCHAR[])))")


def _where(f: dict, benchmark_id: str) -> tuple[str, list]:
    """SQL WHERE (constant fragments) + params for a filter dict (see medviz.views.ErrorFilter)."""
    clauses, params = ["TRUE"], []
    if f.get("modalities"):
        clauses.append(_FACET.format(facet="modality"))
        params += [benchmark_id, list(f["modalities"])]
    if f.get("categories"):
        clauses.append(_FACET.format(facet="category"))
        params += [benchmark_id, list(f["categories"])]
    if f.get("departments"):
        clauses.append("department IN (SELECT unnest(?::VARCHAR[]))")
        params.append(list(f["departments"]))
    if f.get("image_problems"):                # a missing or unreadable image (facet written at import)
        clauses.append("unit_no IN (SELECT unit_no FROM unit_facets WHERE benchmark_id = ? AND facet = 'image')")
        params.append(benchmark_id)
    outcome = f.get("outcome")
    if outcome:
        if outcome not in _OUTCOME_SQL:
            raise ValueError(f"unknown outcome {outcome!r}")
        clauses.append(_OUTCOME_SQL[outcome])
    if f.get("unit_ids") is not None:          # from tag / reviewer filters (annotation read model)
        clauses.append("list_contains(?, unit_id)")
        params.append(list(f["unit_ids"]))
    if f.get("exclude_unit_ids"):
        clauses.append("NOT list_contains(?, unit_id)")
        params.append(list(f["exclude_unit_ids"]))
    for col in ("biomedclip_sim", "dino_sim"):   # constant column names
        lo, hi = f.get(col + "_min"), f.get(col + "_max")
        if lo is not None:
            clauses.append(f"{col} >= ?")
            params.append(float(lo))
        if hi is not None:
            clauses.append(f"{col} <= ?")
            params.append(float(hi))
    if f.get("search"):
        clauses.append("(contains(lower(question), lower(?)) OR contains(lower(unit_id), lower(?)))")
        params += [f["search"], f["search"]]
    return " AND ".join(clauses), params


def error_rows(cur, benchmark_id: str, models: list[str] | None, f: dict, *, limit: int = 48,
               offset: int = 0, with_tags: bool = False) -> pd.DataFrame:
    """One page of (unit, model) rows matching ``f``, ordered by unit then model. ``with_tags`` adds the tag
    columns (see ``_PAGE_TAGS``), read for this page's rows only, in the same statement."""
    where, params = _where(f, benchmark_id)
    hp = _cte_params(benchmark_id, models)
    page = f"SELECT * FROM x WHERE {where} ORDER BY {_ORDER} LIMIT ? OFFSET ?"
    if not with_tags:
        return cur.execute(_MATERIALISED_CTE + page, hp + params + [int(limit), int(offset)]).df()
    sql = _MATERIALISED_CTE + f", pg AS ({page}), {_PAGE_TAGS} ORDER BY pg.{_ORDER.replace(', ', ', pg.')}"
    return cur.execute(sql, hp + params + [int(limit), int(offset), benchmark_id, benchmark_id]).df()


# Tag columns of the rows of one page (CTE ``pg``): per (unit_id, model) row, the sorted distinct tags and
# reviewers of the current annotations on that unit (on the pair or either of its items) for that model or
# for all models.
_PAGE_TAGS = """
    u AS (SELECT DISTINCT unit_id FROM pg),
    tgt AS (SELECT 'pair' AS target_type, unit_id AS target_id, unit_id FROM u
            UNION ALL
            SELECT 'item', i.item_id, u.unit_id FROM u JOIN items i ON i.benchmark_id = ? AND i.pair_id = u.unit_id
            UNION ALL
            SELECT 'item', u.unit_id, u.unit_id FROM u),
    cur AS (SELECT a.model, a.tags, a.reviewer, a.retracted, t.unit_id
            FROM annotation_revisions a JOIN tgt t ON a.target_type = t.target_type AND a.target_id = t.target_id
            WHERE a.benchmark_id = ?
            QUALIFY row_number() OVER (PARTITION BY a.annotation_id ORDER BY a.revision DESC) = 1),
    tg AS (SELECT pg.unit_id, pg.model,
                  coalesce(list_sort(list_distinct(flatten(list(c.tags) FILTER (WHERE c.tags IS NOT NULL)))),
                           []::VARCHAR[]) AS tags,
                  coalesce(list_sort(list_distinct(list(c.reviewer) FILTER (WHERE c.reviewer IS NOT NULL))),
                           []::VARCHAR[]) AS reviewers
           FROM pg LEFT JOIN cur c ON c.unit_id = pg.unit_id AND NOT c.retracted
                                   AND (c.model IS NULL OR c.model = pg.model)
           GROUP BY pg.unit_id, pg.model)
    SELECT pg.*, tg.tags, tg.reviewers FROM pg JOIN tg ON tg.unit_id = pg.unit_id AND tg.model = pg.model
"""


def error_counts(cur, benchmark_id: str, models: list[str] | None, f: dict) -> dict:
    """Row and unit counts of the filtered set, and how many rows fall under each outcome."""
    where, params = _where(f, benchmark_id)
    hp = _cte_params(benchmark_id, models)
    sql = (_MATERIALISED_CTE + f"""SELECT count(*), count(DISTINCT unit_no),
        count(*) FILTER (WHERE all_correct), count(*) FILTER (WHERE any_wrong),
        count(*) FILTER (WHERE confused), count(*) FILTER (WHERE any_invalid)
        FROM x WHERE {where}""")
    r = first_row(cur.execute(sql, hp + params))
    return {"rows": r[0], "units": r[1], "correct": r[2], "wrong": r[3], "confused": r[4], "invalid": r[5]}


def error_unit_ids(cur, benchmark_id: str, models: list[str] | None, f: dict) -> list[str]:
    """Distinct unit ids matching ``f`` in review order (the Review page's navigation queue)."""
    where, params = _where(f, benchmark_id)
    hp = _cte_params(benchmark_id, models)
    sql = _MATERIALISED_CTE + f"SELECT DISTINCT unit_id FROM x WHERE {where} ORDER BY unit_id"
    return [r[0] for r in cur.execute(sql, hp + params).fetchall()]


def unit_ids(cur, benchmark_id: str) -> list[str]:
    """Every review unit of a benchmark in order: pair ids, plus items that belong to no pair."""
    return [r[0] for r in cur.execute(
        "SELECT DISTINCT coalesce(pair_id, item_id) AS u FROM items WHERE benchmark_id = ? ORDER BY u",
        [benchmark_id]).fetchall()]


def unit_items(cur, benchmark_id: str, unit_id: str) -> pd.DataFrame:
    """The one or two items of a unit, slot order."""
    return cur.execute(
        "SELECT * FROM items WHERE benchmark_id = ? AND (pair_id = ? OR (pair_id IS NULL AND item_id = ?)) "
        "ORDER BY coalesce(slot, 1)", [benchmark_id, unit_id, unit_id]).df()


def unit_predictions(cur, benchmark_id: str, item_ids: list[str], models: list[str] | None) -> pd.DataFrame:
    """The predictions on a unit's one or two items. ``item_id IN (?, ?)`` (one placeholder per item: the text
    depends only on their number), not ``list_contains``: a filter DuckDB can push into the scan."""
    ids = list(item_ids) or [None]
    return cur.execute(
        "SELECT p.model, p.item_id, p.raw, p.parsed, p.correct, m.synthetic, m.note "
        "FROM predictions p JOIN models m ON m.benchmark_id = p.benchmark_id AND m.model = p.model "
        f"WHERE p.benchmark_id = ? AND p.item_id IN ({', '.join('?' for _ in ids)}) "
        "AND (? OR list_contains(?, p.model)) "
        "ORDER BY p.model, p.item_id", [benchmark_id, *ids, not models, list(models or [])]).df()


def facets(cur, benchmark_id: str) -> dict[str, list[str]]:
    """Distinct modality / category / department values for the filter bar."""
    def col(sql):
        return [r[0] for r in cur.execute(sql, [benchmark_id]).fetchall() if r[0] is not None]
    return {
        "modalities": col("SELECT DISTINCT modality FROM items WHERE benchmark_id = ? ORDER BY 1"),
        "categories": col("SELECT DISTINCT unnest(categories) AS c FROM items WHERE benchmark_id = ? ORDER BY 1"),
        "departments": col("SELECT DISTINCT department FROM items WHERE benchmark_id = ? ORDER BY 1"),
    }


def sim_ranges(cur, benchmark_id: str) -> dict[str, tuple[float, float] | None]:
    """Min/max of the benchmark's own provided similarities (None when absent)."""
    r = first_row(cur.execute("SELECT min(biomedclip_sim), max(biomedclip_sim), min(dino_sim), max(dino_sim) "
                    "FROM pairs WHERE benchmark_id = ?", [benchmark_id]))
    return {"biomedclip_sim": None if r[0] is None else (r[0], r[1]),
            "dino_sim": None if r[2] is None else (r[2], r[3])}


def item_rows(cur, benchmark_id: str, item_ids: list[str]) -> pd.DataFrame:
    """Items by id (for embedding-map selections and neighbour lists)."""
    return cur.execute(
        "SELECT item_id, coalesce(pair_id, item_id) AS unit_id, slot, modality, question, answer, image_path, "
        "image_status, image_sha256 FROM items WHERE benchmark_id = ? AND list_contains(?, item_id) "
        "ORDER BY item_id", [benchmark_id, list(item_ids)]).df()


def item_outcomes(cur, benchmark_id: str, models: list[str] | None) -> pd.DataFrame:
    """Per item: how many selected models answered it, got it right, gave no letter (embedding colours)."""
    return cur.execute(
        "SELECT i.item_id, coalesce(i.pair_id, i.item_id) AS unit_id, i.modality, "
        "count(p.model) AS n_models, count(*) FILTER (WHERE p.correct) AS n_correct, "
        "count(*) FILTER (WHERE p.model IS NOT NULL AND p.parsed IS NULL) AS n_invalid "
        "FROM items i LEFT JOIN predictions p ON p.benchmark_id = i.benchmark_id AND p.item_id = i.item_id "
        "AND (? OR list_contains(?, p.model)) WHERE i.benchmark_id = ? GROUP BY ALL ORDER BY i.item_id",
        [not models, list(models or []), benchmark_id]).df()


# The outcomes export: one row per (unit, model) of a filter, typed like the annotation export (see
# medviz.store.annotation_export.EXPORT_COLUMNS for the types).
OUTCOME_EXPORT_COLUMNS: list[tuple[str, str]] = [
    ("benchmark_id", "text"), ("unit_id", "text"), ("model", "text"), ("synthetic_model", "text"),
    ("question", "text"), ("modality", "list: | "), ("categories", "list:; "), ("department", "text"),
    ("n_images", "int"), ("outcome", "text"), ("answered_letters", "list:;"), ("correct_letters", "list:;"),
    ("biomedclip_sim_benchmark", "float"), ("dino_sim_benchmark", "float"), ("review_url", "text"),
]


def outcome_export_query(benchmark_id: str, models: list[str] | None, f: dict, *, base_url: str,
                         for_csv: bool) -> tuple[str, list]:
    """(statement, params): every (unit, model) row matching ``f``, in Errors order, typed or as CSV text."""
    from .annotation_export import typed_from
    where, params = _where(f, benchmark_id)
    hp = _cte_params(benchmark_id, models)
    sql = _MATERIALISED_CTE + f""", r AS (
        SELECT benchmark_id, unit_id, model, CASE WHEN synthetic THEN 'synthetic' ELSE '' END AS synthetic_model,
               coalesce(question, '') AS question, list_sort(modalities) AS modality,
               list_sort(categories) AS categories, coalesce(department, '') AS department, n_items AS n_images,
               {outcome_label_sql("x")} AS outcome, letters AS answered_letters, answers AS correct_letters,
               biomedclip_sim AS biomedclip_sim_benchmark, dino_sim AS dino_sim_benchmark,
               ?::VARCHAR || '/review?b=' || url_encode(benchmark_id) || '&pair=' || url_encode(unit_id)
                   || '&m=' || url_encode(model) AS review_url, unit_no
        FROM x WHERE {where})
    {typed_from(OUTCOME_EXPORT_COLUMNS, for_csv, "SELECT * FROM r", keep=("unit_no",))} ORDER BY unit_no, model"""
    return sql, hp + [base_url] + params


def paired_outcomes(cur, benchmark_id: str, model_a: str, model_b: str) -> pd.DataFrame:
    """Per unit both models answered: whether each got it fully right, with the unit's modalities and
    categories (model vs model, McNemar)."""
    return cur.execute(
        "SELECT a.unit_id, a.unit_no, a.modalities, a.categories, coalesce(a.all_correct, FALSE) AS a_correct, "
        "coalesce(b.all_correct, FALSE) AS b_correct FROM unit_outcomes a JOIN unit_outcomes b "
        "ON b.benchmark_id = a.benchmark_id AND b.unit_no = a.unit_no AND b.model = ? "
        "WHERE a.benchmark_id = ? AND a.model = ? ORDER BY a.unit_no", [model_b, benchmark_id, model_a]).df()


def unit_target_types(cur, benchmark_id: str, unit_ids: list[str]) -> dict[str, str]:
    """unit id -> 'pair' or 'item' for the ids that are units of the benchmark."""
    return {u: ("pair" if is_pair else "item") for u, is_pair in cur.execute(
        "SELECT DISTINCT coalesce(pair_id, item_id), pair_id IS NOT NULL FROM items WHERE benchmark_id = ? "
        "AND list_contains(?, coalesce(pair_id, item_id))", [benchmark_id, list(unit_ids)]).fetchall()}
