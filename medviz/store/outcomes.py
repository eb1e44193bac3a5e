"""The materialised outcome tables, kept in step with predictions: ``unit_outcomes`` (one row per review unit
and model: all correct, any wrong/invalid, confused, the unit's context) and ``unit_facets`` (a unit's
modalities, categories and image problems as rows, so filters are hash semi-joins). Rebuilt for one model
inside the transaction that replaces its run (``core.replace_predictions``); the outcome rules are
``medviz.scoring``'s SQL (``rule_sql``), the one definition of correct / wrong / invalid / same answer.
"""
from __future__ import annotations

from ..scoring import rule_sql


_UNIT_OUTCOMES_DDL = """
    CREATE TABLE unit_outcomes (
        benchmark_id VARCHAR NOT NULL, unit_id VARCHAR NOT NULL, unit_no INTEGER NOT NULL, model VARCHAR NOT NULL,
        question VARCHAR,
        modalities VARCHAR[], categories VARCHAR[], department VARCHAR, n_items INTEGER,
        all_correct BOOLEAN, any_wrong BOOLEAN, any_invalid BOOLEAN, confused BOOLEAN,
        letters VARCHAR[], answers VARCHAR[], image_paths VARCHAR[], biomedclip_sim DOUBLE, dino_sim DOUBLE,
        synthetic BOOLEAN)
    """


def create_unit_outcomes(tx) -> None:
    """Migration v2: create the table and fill it for every model already in the store."""
    tx.execute(_UNIT_OUTCOMES_DDL)
    for benchmark_id, model in tx.execute("SELECT benchmark_id, model FROM models").fetchall():
        refresh_unit_outcomes(tx, benchmark_id, model)


_UNIT_FACETS_DDL = """
CREATE TABLE unit_facets (benchmark_id VARCHAR NOT NULL, unit_no INTEGER NOT NULL, facet VARCHAR NOT NULL,
                          value VARCHAR NOT NULL)
"""

_REFRESH_UNIT_FACETS = """
INSERT INTO unit_facets
WITH n AS (
    SELECT unit_id, dense_rank() OVER (ORDER BY unit_id) AS unit_no
    FROM (SELECT DISTINCT coalesce(pair_id, item_id) AS unit_id FROM items WHERE benchmark_id = ?)
), i AS (SELECT coalesce(pair_id, item_id) AS unit_id, modality, categories, image_status FROM items
          WHERE benchmark_id = ?)
SELECT DISTINCT ?, n.unit_no, 'modality', i.modality FROM i JOIN n USING (unit_id) WHERE i.modality IS NOT NULL
UNION
SELECT DISTINCT ?, n.unit_no, 'category', c.category
FROM (SELECT unit_id, unnest(categories) AS category FROM i) c JOIN n USING (unit_id)
UNION   -- "image problems": a unit with an image that is missing or unreadable (value: that status)
SELECT DISTINCT ?, n.unit_no, 'image', i.image_status FROM i JOIN n USING (unit_id)
WHERE i.image_status IS DISTINCT FROM 'ok'
"""


def create_unit_facets(tx, create: bool = True) -> None:
    if create:
        tx.execute(_UNIT_FACETS_DDL)
    for (benchmark_id,) in tx.execute("SELECT DISTINCT benchmark_id FROM unit_outcomes").fetchall():
        refresh_unit_facets(tx, benchmark_id)


def refresh_unit_facets(tx, benchmark_id: str) -> None:
    tx.execute("DELETE FROM unit_facets WHERE benchmark_id = ?", [benchmark_id])
    tx.execute(_REFRESH_UNIT_FACETS, [benchmark_id] * 5)


# A review *unit* is a pair (two items sharing pair_id) or, outside pairs, a single item. Its outcome for a
# model is materialised when that model's predictions are imported, so the Errors page scans one small
# table instead of re-aggregating every prediction on every filter change.
_REFRESH_UNIT_OUTCOMES = f"""
INSERT INTO unit_outcomes
WITH n AS (   -- a dense number per unit: counting and ordering integers is much cheaper than strings
    SELECT unit_id, dense_rank() OVER (ORDER BY unit_id) AS unit_no
    FROM (SELECT DISTINCT coalesce(pair_id, item_id) AS unit_id FROM items WHERE benchmark_id = ?)
), p AS (
    SELECT coalesce(i.pair_id, i.item_id) AS unit_id, i.item_id, i.pair_id, coalesce(i.slot, 1) AS slot, i.answer,
           i.modality, i.categories, i.department, i.question, i.image_path, pr.model, pr.parsed
    FROM items i JOIN predictions pr ON pr.benchmark_id = i.benchmark_id AND pr.item_id = i.item_id
    WHERE i.benchmark_id = ? AND pr.model = ?
), grouped AS (     -- units of two or more items (pairs): one group each
    SELECT * FROM p WHERE pair_id IS NOT NULL OR item_id IN (SELECT pair_id FROM items WHERE benchmark_id = ?)
), single AS (       -- every other unit is one item: the grouping below over one row, written out per row
    SELECT unit_id, model, question,
           CASE WHEN modality IS NOT NULL THEN list_distinct([modality]) END AS modalities,
           list_distinct(flatten([categories])) AS categories,
           department, 1 AS n_items,
           {rule_sql("correct", parsed="parsed", answer="answer")} AS all_correct,
           {rule_sql("wrong", parsed="parsed", answer="answer")} AS any_wrong,
           {rule_sql("invalid", parsed="parsed")} AS any_invalid,
           [parsed] AS letters, [answer] AS answers, [image_path] AS image_paths
    FROM p WHERE pair_id IS NULL AND item_id NOT IN (SELECT pair_id FROM items WHERE benchmark_id = ?
                                                     AND pair_id IS NOT NULL)
), u AS (
    SELECT * FROM single
    UNION ALL BY NAME
    SELECT unit_id, model,
           any_value(question) AS question,
           list_distinct(list(modality) FILTER (WHERE modality IS NOT NULL)) AS modalities,
           list_distinct(flatten(list(categories))) AS categories,
           any_value(department) AS department,
           count(*) AS n_items,
           bool_and({rule_sql("correct", parsed="parsed", answer="answer")}) AS all_correct,
           bool_or({rule_sql("wrong", parsed="parsed", answer="answer")}) AS any_wrong,
           bool_or({rule_sql("invalid", parsed="parsed")}) AS any_invalid,
           list(parsed ORDER BY slot) AS letters,
           list(answer ORDER BY slot) AS answers,
           list(image_path ORDER BY slot) AS image_paths
    FROM grouped GROUP BY unit_id, model
)
SELECT ? AS benchmark_id, u.unit_id, n.unit_no, u.model, u.question, u.modalities, u.categories, u.department, u.n_items,
       u.all_correct, u.any_wrong, u.any_invalid,
       (u.n_items = 2 AND {rule_sql("same_answer", first="u.letters[1]", second="u.letters[2]")}) AS confused,
       u.letters, u.answers, u.image_paths,
       pa.biomedclip_sim, pa.dino_sim, m.synthetic
FROM u
JOIN n USING (unit_id)
LEFT JOIN pairs pa ON pa.benchmark_id = ? AND pa.pair_id = u.unit_id
LEFT JOIN models m ON m.benchmark_id = ? AND m.model = u.model
"""   # no ORDER BY: every read orders by unit_no itself; sorting the wide rows cost ~25 MB and a third of the time

def refresh_unit_outcomes(tx, benchmark_id: str, model: str) -> None:
    tx.execute("DELETE FROM unit_outcomes WHERE benchmark_id = ? AND model = ?", [benchmark_id, model])
    tx.execute(_REFRESH_UNIT_OUTCOMES, [benchmark_id, benchmark_id, model, benchmark_id, benchmark_id, benchmark_id,
                                        benchmark_id, benchmark_id])
    refresh_unit_facets(tx, benchmark_id)
