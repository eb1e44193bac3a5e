"""The annotation export as one SQL statement: columns, types, formula neutralising, time formatting.

``medviz.export`` writes what ``export_query`` selects (CSV or Parquet) and states the rules; the SQL lives here.
"""
from __future__ import annotations

from .annotations import ALL_MODELS_LABEL

# A cell a spreadsheet would run as a formula (RE2 syntax; medviz.export states the rule): any leading
# quotes, then = + - @ tab CR or NUL. Neutralising adds one quote in front; reading an export removes one.
NEEDS_QUOTE_RE = r"^('*[=+\-@\t\r\x00])"
_NEEDS_QUOTE_SQL = NEEDS_QUOTE_RE.replace("'", "''")    # as a SQL string literal (a constant)


# Export cells medviz itself writes from constants: they cannot start a formula (numbers and times are
# never neutralised).
_MEDVIZ_MADE = frozenset({"target_type", "kind", "medviz_version", "outcome", "synthetic_model"})


_BY_TARGET: dict[str, tuple[str, str]] = {}     # column -> (its item target expression, its pair target expression)


def _item_or_pair(item: str, pair: str) -> str:
    return f"CASE WHEN a.target_type = 'item' THEN {item} ELSE {pair} END"


def _by_target(name: str, item: str, pair: str) -> str:
    _BY_TARGET[name] = (item, pair)
    return _item_or_pair(item, pair)


# name -> (SQL expression, type). Types: text, int, float, ts (timestamp), list:<sep> (a list of text; the CSV
# joins it with <sep>). Parquet keeps the native type; the CSV writes every cell as text ('' for missing).
# a: annotation x tag; i / p: an item target's item and prediction; pc / pp: a pair's items and predictions
# (lists in slot order); uo: the target's unit_outcomes row for the annotation's model (its label is computed in
# export_query from medviz.store.views.outcome_label_sql, for the joined rows only); s: encoder similarity.
_SEMI, _CAT_SEP, _OPT_SEP = "list:;", "list:; ", "list: | "
EXPORT_COLUMNS: dict[str, tuple[str, str]] = {
    "benchmark_id": ("a.benchmark_id", "text"), "target_type": ("a.target_type", "text"),
    "target_id": ("a.target_id", "text"),
    "item_ids": (_by_target("item_ids", "CASE WHEN i.item_id IS NOT NULL THEN [i.item_id] END", "pc.item_ids"), _SEMI),
    "image_ids": (_by_target("image_ids", "CASE WHEN i.item_id IS NOT NULL THEN [coalesce(i.image_ref, '')] END",
                                "pc.image_ids"), _SEMI),
    "modality": (_by_target("modality", "i.modality", "pc.modality"), "text"),
    "categories": (_by_target("categories", "list_sort(list_distinct(coalesce(i.categories, []::VARCHAR[])))",
                                 "pc.categories"), _CAT_SEP),
    "department": (_by_target("department", "i.department", "pc.department"), "text"),
    "model": (f"coalesce(a.model, '{ALL_MODELS_LABEL}')", "text"),
    "question": (_by_target("question", "i.question", "pc.question"), "text"),
    "options": (_by_target("options", "i.option_list", "pc.options_list"), _OPT_SEP),
    "raw_answer": (_by_target("raw_answer", "CASE WHEN p.item_id IS NOT NULL THEN [coalesce(p.raw, '')] END",
                              "pp.raw"), _SEMI),
    "parsed_answer": (_by_target("parsed_answer", "CASE WHEN p.item_id IS NOT NULL THEN [coalesce(p.parsed, '')] END",
                                    "pp.parsed"), _SEMI),
    "correct_answer": (_by_target("correct_answer", "CASE WHEN i.item_id IS NOT NULL THEN [coalesce(i.answer, '')] END",
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


def typed_from(columns: list[tuple[str, str]], for_csv: bool, source: str, keep: tuple[str, ...] = ()) -> str:
    """``SELECT ... FROM (source)`` writing typed columns (name, type as in ``EXPORT_COLUMNS``) as they are,
    or for a CSV: every cell as text ('' for missing), text and lists neutralised against formula injection.
    ``keep``: columns of ``source`` the caller's ORDER BY uses (not written).

    The CSV form is two projections: cells made text, then neutralised by name, so each text expression is
    written once rather than three times into the neutralising CASE (a smaller statement to bind: at 1k rows the
    export's parse + bind is ~15 ms of its ~22 ms; this cut it by ~1.5 ms)."""
    names = [f'"{c}"' for c, _ in columns]
    if not for_csv:
        return f"SELECT {', '.join(names)} FROM ({source})"
    extra = "".join(f', "{k}"' for k in keep)
    inner = ", ".join(f'{_csv_text(c, typ)} AS "{c}"' for c, typ in columns)
    out = []
    for (c, typ), e in zip(columns, names):
        if (typ == "text" or typ.startswith("list:")) and c not in _MEDVIZ_MADE:
            # every character that can start a formula (and the quote) sorts before 'A': a byte comparison
            # keeps the regex off almost every cell (RE2 on every cell cost more than the rest of the export)
            e = f"CASE WHEN {e} < 'A' THEN regexp_replace({e}, '{_NEEDS_QUOTE_SQL}', '''\\1') ELSE {e} END"
        out.append(f'{e} AS "{c}"')
    return f"SELECT {', '.join(out)} FROM (SELECT {inner}{extra} FROM ({source}))"


def export_query(*, benchmark_id: str | None, model: str | None, modality: str | None, columns: list[str],
                 version: str, base_url: str, sims_table: str | None, for_csv: bool,
                 pairs: bool = True) -> tuple[str, list]:
    """(statement, params) giving the annotation export rows: current annotation x tag, in export order.

    ``columns``: names from ``EXPORT_COLUMNS`` (constants). ``encoder_*`` come from ``sims_table``, a
    registered relation (benchmark_id, pair_id, encoder_id, encoder_weights_sha256, encoder_similarity), or are
    NULL without it; ``medviz_version`` is ``version``; ``review_url`` starts with ``base_url``. Native types
    (lists, integers, timestamps) unless ``for_csv``: then every cell is text ('' for missing), text
    neutralised, floats printed like ``%.6g``. ``model`` keeps that model's annotations and those for all
    models; ``modality`` matches one of the target's modalities, any case. ``pairs=False`` when every exported
    annotation is of an item target (``has_pair_targets``): the same rows without the per-pair aggregation.
    """
    from .views import outcome_label_sql
    inner = []
    for c in columns:
        expr, typ = EXPORT_COLUMNS[c]
        if c == "outcome":      # the label of the joined row only (not of every unit_outcomes row)
            expr = outcome_label_sql("uo")
        if not pairs and c in _BY_TARGET:
            expr = _BY_TARGET[c][0]
        if (c.startswith("encoder_") and not sims_table) or (not pairs and c in _PAIR_ONLY):
            expr = "NULL::DOUBLE" if typ == "float" else "NULL"
        if typ == "text":
            expr = f"coalesce(({expr})::VARCHAR, '')"
        inner.append(f'{expr} AS "{c}"')
    sims_join = (f"LEFT JOIN {sims_table} s ON a.target_type = 'pair' AND s.benchmark_id = a.benchmark_id "
                 "AND s.pair_id = a.target_id") if sims_table and pairs else ""
    # Item targets join their item and prediction directly (one row each, like a plain join); only pair
    # targets go through the per-pair aggregation of their two items.
    sql = f"""
    WITH ver AS (SELECT ?::VARCHAR AS v, ?::VARCHAR AS base),
    cur AS (SELECT r.* FROM annotation_revisions r
            SEMI JOIN (SELECT annotation_id, max(revision) AS revision FROM annotation_revisions GROUP BY annotation_id)
                 m USING (annotation_id, revision)      -- the latest revision ((annotation_id, revision) is the key)
            WHERE r.benchmark_id = coalesce(?, r.benchmark_id)),
    a AS (SELECT *, unnest(tags) AS tag, generate_subscripts(tags, 1) AS tag_pos FROM cur
          WHERE NOT retracted AND (?::VARCHAR IS NULL OR model IS NULL OR model = ?)),
    {_PAIR_CTES if pairs else ""}
    rows AS (
        SELECT {", ".join(inner)},
               a.created_at AS _k_created, a.tag_pos AS _k_tag
        FROM a CROSS JOIN ver
        LEFT JOIN items i
               ON a.target_type = 'item' AND i.benchmark_id = a.benchmark_id AND i.item_id = a.target_id
        LEFT JOIN predictions p ON a.target_type = 'item' AND p.benchmark_id = a.benchmark_id
                               AND p.item_id = a.target_id AND p.model = a.model
        LEFT JOIN unit_outcomes uo
               ON uo.benchmark_id = a.benchmark_id AND uo.unit_id = a.target_id AND uo.model = a.model
        {_PAIR_JOINS if pairs else ""}
        {sims_join})
    {typed_from([(c, EXPORT_COLUMNS[c][1]) for c in columns], for_csv, _FILTERED, keep=("_k_created", "_k_tag"))}
    ORDER BY benchmark_id, target_type, target_id, _k_created, annotation_id, _k_tag
    """
    return sql, [version, base_url, benchmark_id, model, model, modality, modality]


_FILTERED = """SELECT * FROM rows
    WHERE ?::VARCHAR IS NULL OR list_contains(list_transform(string_split("modality", '|'),
                                                             lambda x: lower(trim(x))), lower(trim(?)))"""


def has_pair_targets(cur, benchmark_id: str | None) -> bool:
    """Whether any annotation (of this benchmark, or of any) is of a target other than an item."""
    return cur.execute("SELECT EXISTS (SELECT 1 FROM annotation_revisions WHERE target_type <> 'item' "
                       "AND benchmark_id = coalesce(?, benchmark_id))", [benchmark_id]).fetchall()[0][0]


_PAIR_ONLY = frozenset({"biomedclip_sim_benchmark", "dino_sim_benchmark", "encoder_id", "encoder_weights_sha256",
                        "encoder_similarity"})
_PAIR_CTES = f"""
    t AS (SELECT DISTINCT benchmark_id, target_type, target_id FROM a WHERE target_type = 'pair'),
    it AS (SELECT t.benchmark_id, t.target_id, i.item_id, i.slot, i.image_ref, i.answer, i.modality,
                  i.categories, i.department, i.question, i.options, i.option_list
           FROM t JOIN items i ON i.benchmark_id = t.benchmark_id AND i.pair_id = t.target_id),
    pc AS (SELECT benchmark_id, target_id,
                  list(item_id ORDER BY slot, item_id) AS item_ids,
                  list(coalesce(image_ref, '') ORDER BY slot, item_id) AS image_ids,
                  list(coalesce(answer, '') ORDER BY slot, item_id) AS answers,
                  string_agg(DISTINCT modality, ' | ' ORDER BY modality) AS modality,
                  list_sort(list_distinct(flatten(list(categories)))) AS categories,
                  string_agg(DISTINCT department, ' | ' ORDER BY department) AS department,
                  string_agg(DISTINCT question, ' | ' ORDER BY question) AS question,
                  arg_min(option_list, options) AS options_list
           FROM it GROUP BY benchmark_id, target_id),
    pp AS (SELECT it.benchmark_id, it.target_id, p.model,
                  list(coalesce(p.raw, '') ORDER BY it.slot, it.item_id) AS raw,
                  list(coalesce(p.parsed, '') ORDER BY it.slot, it.item_id) AS parsed
           FROM it JOIN predictions p ON p.benchmark_id = it.benchmark_id AND p.item_id = it.item_id
           GROUP BY it.benchmark_id, it.target_id, p.model),"""
_PAIR_JOINS = """
        LEFT JOIN pc ON a.target_type = 'pair' AND pc.benchmark_id = a.benchmark_id AND pc.target_id = a.target_id
        LEFT JOIN pp ON a.target_type = 'pair' AND pp.benchmark_id = a.benchmark_id AND pp.target_id = a.target_id
                    AND pp.model = a.model
        LEFT JOIN pairs pr ON a.target_type = 'pair' AND pr.benchmark_id = a.benchmark_id
                          AND pr.pair_id = a.target_id"""
