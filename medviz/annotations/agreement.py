"""How far reviewers agree, where they disagree, and which disagreements an adjudicator has settled.

The unit judged is (target, model): a pair or item, for one model or for all models. A reviewer's
judgement of a unit is the set of tags of their current annotations on it (adjudications excluded).

- Cohen's kappa per reviewer pair, over the units both judged: each (unit, tag) is a yes/no decision, for
  every tag either of the two used on those units.
- Krippendorff's alpha (nominal, binary) per tag, over units with >= 2 reviewers; it allows different
  reviewers and different numbers of reviewers per unit (Fleiss' kappa would need a fixed number).
Every figure comes with the number of units (``n_items``) behind it; NaN when it is undefined.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from .queries import current_annotations, units


def cohen_kappa(a, b) -> float:
    """Cohen's kappa of two equally long label sequences (NaN when chance agreement is 1)."""
    a, b = list(a), list(b)
    n = len(a)
    if n == 0 or n != len(b):
        return math.nan
    po = sum(x == y for x, y in zip(a, b)) / n
    labels = set(a) | set(b)
    pe = sum((a.count(c) / n) * (b.count(c) / n) for c in labels)
    return math.nan if pe >= 1 else (po - pe) / (1 - pe)


def krippendorff_alpha_binary(values_per_unit) -> float:
    """Krippendorff's alpha for nominal yes/no data: ``values_per_unit`` = lists of 0/1 (units with < 2
    values are ignored). NaN when every value is the same (no variation to agree on)."""
    d_o = 0.0
    n0 = n1 = 0
    for vals in values_per_unit:
        m = len(vals)
        if m < 2:
            continue
        ones = int(sum(vals))
        zeros = m - ones
        n1 += ones
        n0 += zeros
        d_o += ones * zeros / (m - 1)
    n = n0 + n1
    if n0 == 0 or n1 == 0:
        return math.nan
    return 1.0 - (n - 1) * d_o / (n0 * n1)


def judgements(store, benchmark_id: str) -> pd.DataFrame:
    """One row per (unit, reviewer) with the union of the reviewer's tags on the unit."""
    df = current_annotations(store, benchmark_id, kind="annotation")
    if df.empty:
        return pd.DataFrame(columns=["unit", "benchmark_id", "target_type", "target_id", "model", "reviewer",
                                     "tags", "proposed_answer", "annotation_ids", "updated_at"])
    df = units(df)
    rows = []
    for (unit, reviewer), g in df.groupby(["unit", "reviewer"], sort=True):
        tags = sorted({t for ts in g["tags"] for t in ts})
        prop = sorted({p for p in g["proposed_answer"] if isinstance(p, str)})
        first = g.iloc[0]
        rows.append({"unit": unit, "benchmark_id": first.benchmark_id, "target_type": first.target_type,
                     "target_id": first.target_id, "model": first.model if isinstance(first.model, str) else None,
                     "reviewer": reviewer, "tags": tags, "proposed_answer": "; ".join(prop) or None,
                     "annotation_ids": list(g["annotation_id"]), "updated_at": g["updated_at"].max()})
    return pd.DataFrame(rows)


def agreement(store, benchmark_id: str) -> dict:
    """Inter-reviewer agreement on one benchmark.

    Returns ``{"cohen": DataFrame(reviewer_a, reviewer_b, n_items, n_decisions, kappa, observed,
    exact_match), "per_tag": DataFrame(tag, n_items, n_positive, alpha, observed), "n_units",
    "n_multi" (units with >= 2 reviewers), "reviewers"}``.
    """
    j = judgements(store, benchmark_id)
    out = {"n_units": int(j["unit"].nunique()) if len(j) else 0,
           "reviewers": sorted(j["reviewer"].unique()) if len(j) else []}
    sets = {(r.unit, r.reviewer): set(r.tags) for r in j.itertuples()}
    by_unit: dict[str, list[str]] = {}
    for unit, reviewer in sets:
        by_unit.setdefault(unit, []).append(reviewer)

    cohen_rows = []
    for ra, rb in itertools.combinations(out["reviewers"], 2):
        shared = [u for u, rs in by_unit.items() if ra in rs and rb in rs]
        if not shared:
            continue
        tags = sorted(set().union(*(sets[(u, ra)] | sets[(u, rb)] for u in shared)))
        xa = [t in sets[(u, ra)] for u in shared for t in tags]
        xb = [t in sets[(u, rb)] for u in shared for t in tags]
        cohen_rows.append({"reviewer_a": ra, "reviewer_b": rb, "n_items": len(shared), "n_decisions": len(xa),
                           "kappa": cohen_kappa(xa, xb),
                           "observed": float(np.mean([x == y for x, y in zip(xa, xb)])) if xa else math.nan,
                           "exact_match": float(np.mean([sets[(u, ra)] == sets[(u, rb)] for u in shared]))})
    out["cohen"] = pd.DataFrame(cohen_rows, columns=["reviewer_a", "reviewer_b", "n_items", "n_decisions", "kappa",
                                                     "observed", "exact_match"])

    multi = {u: rs for u, rs in by_unit.items() if len(rs) >= 2}
    out["n_multi"] = len(multi)
    all_tags = sorted({t for u, rs in multi.items() for r in rs for t in sets[(u, r)]})
    tag_rows = []
    for t in all_tags:
        vals = [[int(t in sets[(u, r)]) for r in rs] for u, rs in multi.items()]
        unanimous = sum(len(set(v)) == 1 for v in vals)
        tag_rows.append({"tag": t, "n_items": len(vals), "n_positive": sum(any(v) for v in vals),
                         "alpha": krippendorff_alpha_binary(vals), "observed": unanimous / len(vals)})
    out["per_tag"] = pd.DataFrame(tag_rows, columns=["tag", "n_items", "n_positive", "alpha", "observed"])
    return out


def disagreement_queue(store, benchmark_id: str, *, include_resolved: bool = False) -> pd.DataFrame:
    """Units where reviewers' tag sets (or proposed answers) differ, most reviewers first.

    A unit is resolved when a current adjudication on it is newer than every reviewer's annotation there.
    """
    cols = ["benchmark_id", "target_type", "target_id", "model", "n_reviewers", "reviewers", "tags_by_reviewer",
            "common_tags", "disputed_tags", "proposed_answers", "annotation_ids", "resolved", "adjudication_id"]
    j = judgements(store, benchmark_id)
    if j.empty:
        return pd.DataFrame(columns=cols)
    adj = current_annotations(store, benchmark_id, kind="adjudication")
    adj = units(adj) if len(adj) else adj
    rows = []
    for unit, g in j.groupby("unit", sort=True):
        if len(g) < 2:
            continue
        tagsets = [set(t) for t in g["tags"]]
        proposals = {p for p in g["proposed_answer"] if isinstance(p, str)}
        if all(s == tagsets[0] for s in tagsets) and len(proposals) <= 1:
            continue
        resolved, adj_id = False, None
        if len(adj):
            a = adj[adj["unit"] == unit]
            if len(a):
                newest = a.sort_values("updated_at").iloc[-1]
                adj_id = newest.annotation_id
                resolved = bool(newest.updated_at >= g["updated_at"].max())
        if resolved and not include_resolved:
            continue
        first = g.iloc[0]
        common = set.intersection(*tagsets)
        rows.append({"benchmark_id": first.benchmark_id, "target_type": first.target_type,
                     "target_id": first.target_id, "model": first.model, "n_reviewers": len(g),
                     "reviewers": list(g["reviewer"]), "tags_by_reviewer": dict(zip(g["reviewer"], g["tags"])),
                     "common_tags": sorted(common), "disputed_tags": sorted(set.union(*tagsets) - common),
                     "proposed_answers": sorted(proposals),
                     "annotation_ids": [a for ids in g["annotation_ids"] for a in ids],
                     "resolved": resolved, "adjudication_id": adj_id})
    df = pd.DataFrame(rows, columns=cols)
    return df.sort_values(["n_reviewers", "target_id"], ascending=[False, True], kind="stable").reset_index(drop=True)
