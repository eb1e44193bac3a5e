"""Pair and item metrics, exactly as the official scorers compute them, plus intervals and baselines.

Inputs are DataFrames with one row per (model, item) and a ``parsed`` letter (None = invalid / not
inferred), so the same code scores a CLI file, the store, or a million generated predictions.

- MediConfusion (pairs): ``mediconfusion_metrics`` mirrors ``create_score_table``/``print_score`` in
  AIF4S/MediConfusion, as fractions instead of rounded percentages.
- GMAI-MMBench / generic (items): ``item_metrics`` mirrors VLMEvalKit's exact-matching accuracy
  (mean of hit overall and per group).
- The outcome rules (correct / wrong / invalid / same answer for both images) are defined once, in
  ``RULES``, as SQL: the store's materialised review units embed them and pandas evaluates the same text
  with DuckDB (``outcomes``), so the metrics, the Errors page and the Review page cannot disagree.
"""
from __future__ import annotations

import atexit
import threading

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

Z95 = 1.959963984540054
GMAI_GROUPS = ("clinical VQA task", "department", "perceptual granularity", "modality", "category")
GROUP_COLUMNS = {"clinical VQA task": "task", "department": "department",
                 "perceptual granularity": "granularity", "modality": "modality", "category": "category"}

# --- the outcome rules: the one definition of each ---------------------------------------------------
# Placeholders name the columns: {parsed} the model's letter (NULL = invalid / not inferred), {answer} the
# key (NULL = withheld), {first}/{second} the letters given for image 1 and image 2 of a pair.
RULES = {
    # the letter is the key's; FALSE for an invalid answer, NULL (unknown) when the key is withheld
    "correct": "({parsed} IS NOT NULL AND {parsed} = {answer})",
    "wrong": "({parsed} IS NOT NULL AND {answer} IS NOT NULL AND {parsed} <> {answer})",
    "invalid": "({parsed} IS NULL)",
    # confused / image-blind: the same valid letter for both images (MediConfusion: c1 == c2 != '-')
    "same_answer": "coalesce({first} = {second}, FALSE)",
}


def rule_sql(name: str, **columns: str) -> str:
    """The SQL text of one rule over the given column expressions (code-chosen names, never user text)."""
    return RULES[name].format(**columns)


_cons: dict[int, duckdb.DuckDBPyConnection] = {}
_cons_lock = threading.Lock()


def _connection() -> duckdb.DuckDBPyConnection:
    """This thread's in-memory DuckDB connection for evaluating rules over pandas data (no database file).

    Opening one costs tens of milliseconds, so each thread keeps its own; those of finished threads are
    closed by the next call from another thread, and all of them at exit.
    """
    tid = threading.get_ident()
    with _cons_lock:
        if len(_cons) > (tid in _cons):          # another thread has one: close those of finished threads
            alive = {t.ident for t in threading.enumerate()}
            for dead in [k for k in _cons if k not in alive]:
                _cons.pop(dead).close()
        con = _cons.get(tid)
        if con is None:
            con = _cons[tid] = duckdb.connect()
    return con


@atexit.register
def _close_connections() -> None:
    with _cons_lock:
        while _cons:
            _cons.popitem()[1].close()


def _letters(col) -> pa.Array:
    s = col if isinstance(col, pd.Series) else pd.Series(col, dtype=object)
    return pa.array(s, type=pa.string(), from_pandas=True)      # None and NaN are both NULL


def outcomes(columns: dict, rules: dict[str, str]) -> pd.DataFrame:
    """Evaluate ``rules`` ({output name: SQL from ``rule_sql``}) over equal-length letter columns with DuckDB.

    ``columns``: {name: sequence of letters or None/NaN}. Returns nullable-boolean columns in input order.
    """
    table = pa.table({k: _letters(v) for k, v in columns.items()})
    select = ", ".join(f"{sql} AS {out}" for out, sql in rules.items())
    con = _connection()
    con.register("_letters", table)
    try:
        res = pa.table(con.sql(f"SELECT {select} FROM _letters"))   # a projection keeps row order
    finally:
        con.unregister("_letters")
    return res.to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get)


def correct(parsed, answer) -> pd.Series:
    """Per row: the parsed letter is the key (nullable: NA where the key is withheld)."""
    return outcomes({"parsed": parsed, "answer": answer},
                    {"correct": rule_sql("correct", parsed="parsed", answer="answer")})["correct"]


def same_answer(first, second) -> np.ndarray:
    """Per pair: the same valid letter for both images (confused / image-blind), as a bool array."""
    return outcomes({"first": first, "second": second},
                    {"same": rule_sql("same_answer", first="first", second="second")})["same"].to_numpy(bool)


def wilson(k, n, z: float = Z95):
    """Wilson score interval for k successes in n trials (vectorised). NaN where n == 0."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
        lo, hi = centre - half, centre + half
    lo = np.where(n > 0, np.clip(lo, 0, 1), np.nan)
    hi = np.where(n > 0, np.clip(hi, 0, 1), np.nan)
    if lo.ndim == 0:
        return float(lo), float(hi)
    return lo, hi


def _ratio(k: int, n: int) -> float:
    return int(k) / int(n) if n else 0.0


def _with_ci(k: int, n: int) -> dict:
    lo, hi = wilson(k, n)
    return {"value": _ratio(k, n), "k": int(k), "n": int(n), "ci_low": lo, "ci_high": hi}


# --- MediConfusion -------------------------------------------------------------------------------------

def pair_table(slots: pd.DataFrame) -> pd.DataFrame:
    """One row per pair from per-slot rows (columns pair_id, slot, answer, parsed[, categories])."""
    s = slots[["pair_id", "slot", "answer", "parsed"]]
    one = s[s["slot"] == 1].set_index("pair_id")
    two = s[s["slot"] == 2].set_index("pair_id")
    p = one.add_suffix("_1").join(two.add_suffix("_2"), how="inner")
    out = pd.DataFrame(index=p.index)
    out["parsed_1"], out["parsed_2"] = p["parsed_1"], p["parsed_2"]
    r = outcomes({c: p[c] for c in ("parsed_1", "answer_1", "parsed_2", "answer_2")}, {
        "correct_1": rule_sql("correct", parsed="parsed_1", answer="answer_1"),
        "correct_2": rule_sql("correct", parsed="parsed_2", answer="answer_2"),
        "invalid_1": rule_sql("invalid", parsed="parsed_1"),
        "invalid_2": rule_sql("invalid", parsed="parsed_2"),
        "confused": rule_sql("same_answer", first="parsed_1", second="parsed_2")})
    for c in r.columns:       # a withheld key counts as not correct in the tallies
        out[c] = r[c].to_numpy(dtype=bool, na_value=False)
    out["valid_both"] = ~out["invalid_1"] & ~out["invalid_2"]
    out["valid_pair"] = out["valid_both"] & ~out["confused"]
    out["set_ok"] = out["correct_1"] & out["correct_2"]
    return out


def mediconfusion_metrics(slots: pd.DataFrame, *, with_ci: bool = False) -> dict:
    """Official MediConfusion metrics over the pairs in ``slots``.

    ``slots``: one row per image slot with ``pair_id``, ``slot`` (1/2), ``answer`` (correct letter),
    ``parsed`` (chosen letter or None) and ``categories`` (list). Per-category denominators are the
    per-slot category counts of the scored set (``statistics.json`` for the official 176 pairs).
    """
    pt = pair_table(slots)
    n = len(pt)
    set_k = int(pt["set_ok"].sum())
    ind_k = int(pt["correct_1"].sum() + pt["correct_2"].sum())
    conf_k = int(pt["confused"].sum())
    valid_k = int(pt["valid_both"].sum())
    inv_k = int(pt["invalid_1"].sum() + pt["invalid_2"].sum())
    vp_k = int(pt["valid_pair"].sum())
    res = {
        "pairs": n,
        "set_accuracy": _ratio(set_k, n),
        "individual_accuracy": _ratio(ind_k, 2 * n),
        "confusion": _ratio(conf_k, valid_k),
        "invalid": _ratio(inv_k, 2 * n),
        "precision": _ratio(set_k, vp_k),
        "image_blind": _ratio(conf_k, n),
    }
    if with_ci:
        res["ci"] = {
            "set_accuracy": _with_ci(set_k, n), "individual_accuracy": _with_ci(ind_k, 2 * n),
            "confusion": _with_ci(conf_k, valid_k), "invalid": _with_ci(inv_k, 2 * n),
            "precision": _with_ci(set_k, vp_k), "image_blind": _with_ci(conf_k, n),
        }
        res["baseline"] = {"set_accuracy": 0.25, "individual_accuracy": 0.5, "confusion": 0.5}
    if "categories" in slots.columns:
        res["per_category"] = mediconfusion_per_category(slots, pt, with_ci=with_ci)
    return res


def mediconfusion_per_category(slots: pd.DataFrame, pt: pd.DataFrame | None = None, *,
                               with_ci: bool = False) -> dict:
    """Per category, each slot counting toward each of its categories (the official tally)."""
    if pt is None:
        pt = pair_table(slots)
    s = slots[["pair_id", "slot", "categories"]].join(pt, on="pair_id", how="inner")
    slot_is_1 = (s["slot"] == 1).to_numpy()
    s = s.assign(correct=np.where(slot_is_1, s["correct_1"], s["correct_2"]),
                 invalid=np.where(slot_is_1, s["invalid_1"], s["invalid_2"]))
    e = s[["categories", "correct", "invalid", "set_ok", "confused", "valid_both", "valid_pair"]]
    e = e.explode("categories").dropna(subset=["categories"])
    g = e.groupby("categories", sort=True).agg(
        slots=("correct", "size"), ind=("correct", "sum"), inv=("invalid", "sum"), set=("set_ok", "sum"),
        conf=("confused", "sum"), valids=("valid_both", "sum"), vp=("valid_pair", "sum"))
    out = {}
    for cat, r in g.iterrows():
        d = {
            "slots": int(r.slots),
            "set_accuracy": _ratio(r.set, r.slots),
            "individual_accuracy": _ratio(r.ind, r.slots),
            "confusion": _ratio(r.conf, r.valids),
            "invalid": _ratio(r.inv, r.slots),
            "precision": _ratio(r.set, r.vp),
        }
        if with_ci:
            d["ci"] = {"set_accuracy": _with_ci(r.set, r.slots), "individual_accuracy": _with_ci(r.ind, r.slots)}
        out[str(cat)] = d
    return out


# --- items (GMAI-MMBench, generic) -------------------------------------------------------------------

def item_correct(df: pd.DataFrame) -> pd.Series:
    return pd.Series(correct(df["parsed"], df["answer"]).to_numpy(dtype=bool, na_value=False), index=df.index)


def item_metrics(df: pd.DataFrame, *, groups=GMAI_GROUPS, with_ci: bool = False) -> dict:
    """VLMEvalKit exact-matching accuracy, overall and per group; rows without an answer are skipped.

    ``df`` columns: answer, parsed, n_options (for the 1/k baseline) and the group columns named in
    ``GROUP_COLUMNS`` (``task``, ``department``, ``granularity``, ``modality``).
    """
    df = df[df["answer"].notna()]
    hit = item_correct(df).to_numpy()
    n = len(df)
    res = {"rows": n, "overall": _ratio(hit.sum(), n), "by": {}}
    if with_ci:
        res["ci"] = {"overall": _with_ci(hit.sum(), n)}
        if "n_options" in df.columns and n:
            res["baseline"] = {"overall": float(np.mean(1.0 / df["n_options"].clip(lower=1)))}
    for g in groups:
        col = GROUP_COLUMNS.get(g, g)
        if col not in df.columns:
            continue
        keys = df[col].fillna("None").astype(str).to_numpy()
        t = pd.DataFrame({"k": keys, "hit": hit}).groupby("k", sort=True)["hit"].agg(["sum", "size"])
        res["by"][g] = {str(k): _ratio(r["sum"], r["size"]) for k, r in t.iterrows()}
        if with_ci:
            res.setdefault("by_ci", {})[g] = {str(k): _with_ci(r["sum"], r["size"]) for k, r in t.iterrows()}
    return res
