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

import math

import numpy as np
import pandas as pd

from ..store import annotations as sql
from .queries import ALL_MODELS, current_annotations, units


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


def _positives(store, benchmark_id: str) -> tuple[pd.DataFrame, pd.DataFrame, list, list]:
    """Integer-coded judgements: J (u, r) one row per unit x reviewer with its tag-set signature and size,
    P (u, r, t) one row per tag a reviewer applied to a unit; plus the unit and reviewer labels."""
    df = sql.reviewer_tags(store.cursor(), benchmark_id, ALL_MODELS)
    if df.empty:
        return pd.DataFrame(columns=["u", "r", "sig", "npos"]), pd.DataFrame(columns=["u", "r", "t"]), [], []
    u_codes, u_labels = pd.factorize(df["unit"], sort=True)
    r_codes, r_labels = pd.factorize(df["reviewer"], sort=True)
    base = pd.DataFrame({"u": u_codes, "r": r_codes, "tags": df["tags"].to_numpy()})
    P = base.explode("tags").dropna(subset=["tags"]).rename(columns={"tags": "t"})
    P = P.drop_duplicates(["u", "r", "t"]).sort_values(["u", "r", "t"], kind="stable")
    J = base[["u", "r"]].drop_duplicates()
    t_codes, t_labels = pd.factorize(P["t"])
    if len(t_labels) <= 62:       # a tag set as a bit mask: exact, and summed in C
        sig = pd.Series(np.left_shift(1, t_codes.astype(np.int64)), index=P.index).groupby(
            [P["u"], P["r"]]).sum().astype(str).rename("sig")
    else:
        sig = P.groupby(["u", "r"])["t"].agg("|".join).rename("sig")
    npos = P.groupby(["u", "r"]).size().rename("npos")
    J = J.join(sig, on=["u", "r"]).join(npos, on=["u", "r"])
    J["sig"] = J["sig"].fillna("")
    J["npos"] = J["npos"].fillna(0).astype(int)
    return J, P, list(u_labels), list(r_labels)


def agreement(store, benchmark_id: str) -> dict:
    """Inter-reviewer agreement on one benchmark (vectorised: 200k annotations in about a second).

    Returns ``{"cohen": DataFrame(reviewer_a, reviewer_b, n_items, n_decisions, kappa, observed,
    exact_match), "per_tag": DataFrame(tag, n_items, n_positive, alpha, observed), "n_units",
    "n_multi" (units with >= 2 reviewers), "reviewers"}``.

    Cohen, per reviewer pair: over the units both judged, every (unit, tag) for the tags either used on
    those units is a yes/no decision; with n decisions, A and B positives and ``both`` shared positives,
    observed = (n - A - B + 2 both) / n and chance = A B / n^2 + (n - A)(n - B) / n^2.
    """
    J, P, _units, reviewers = _positives(store, benchmark_id)
    out = {"n_units": int(J["u"].nunique()) if len(J) else 0, "reviewers": sorted(reviewers)}
    cohen_cols = ["reviewer_a", "reviewer_b", "n_items", "n_decisions", "kappa", "observed", "exact_match"]
    tag_cols = ["tag", "n_items", "n_positive", "alpha", "observed"]
    if J.empty:
        out.update(cohen=pd.DataFrame(columns=cohen_cols), per_tag=pd.DataFrame(columns=tag_cols), n_multi=0)
        return out

    # --- Cohen per reviewer pair
    pairs = J.merge(J, on="u", suffixes=("_a", "_b"))
    pairs = pairs[pairs["r_a"] < pairs["r_b"]]
    g = pairs.groupby(["r_a", "r_b"])
    per = pd.DataFrame({"n_items": g.size(), "A": g["npos_a"].sum(), "B": g["npos_b"].sum(),
                        "exact_match": g.apply(lambda d: float((d["sig_a"] == d["sig_b"]).mean()),
                                               include_groups=False)})
    both = P.merge(P, on=["u", "t"], suffixes=("_a", "_b"))
    both = both[both["r_a"] < both["r_b"]].groupby(["r_a", "r_b"]).size().rename("both")
    shared = pairs[["u", "r_a", "r_b"]]
    side_a = shared.merge(P.rename(columns={"r": "r_a"}), on=["u", "r_a"])[["r_a", "r_b", "t"]]
    side_b = shared.merge(P.rename(columns={"r": "r_b"}), on=["u", "r_b"])[["r_a", "r_b", "t"]]
    n_tags = pd.concat([side_a, side_b]).drop_duplicates().groupby(["r_a", "r_b"]).size().rename("n_tags")
    per = per.join(both).join(n_tags).fillna({"both": 0, "n_tags": 0})
    n = per["n_items"] * per["n_tags"]
    with np.errstate(invalid="ignore", divide="ignore"):
        po = (n - per["A"] - per["B"] + 2 * per["both"]) / n
        pe = (per["A"] / n) * (per["B"] / n) + ((n - per["A"]) / n) * ((n - per["B"]) / n)
        kappa = np.where(pe >= 1, np.nan, (po - pe) / (1 - pe))
    per = per.assign(n_decisions=n.astype(int), observed=po.where(n > 0, np.nan), kappa=kappa).reset_index()
    per["reviewer_a"] = [reviewers[i] for i in per["r_a"]]
    per["reviewer_b"] = [reviewers[i] for i in per["r_b"]]
    out["cohen"] = per.sort_values(["reviewer_a", "reviewer_b"])[cohen_cols].reset_index(drop=True)

    # --- Krippendorff's alpha per tag, over units with >= 2 reviewers
    m = J.groupby("u").size()
    multi = m[m >= 2]
    out["n_multi"] = int(len(multi))
    if multi.empty:
        out["per_tag"] = pd.DataFrame(columns=tag_cols)
        return out
    C = P[P["u"].isin(multi.index)].groupby(["t", "u"]).size().rename("ones").reset_index()
    C["m"] = C["u"].map(multi)
    C["d"] = C["ones"] * (C["m"] - C["ones"]) / (C["m"] - 1)
    C["unanimous"] = C["ones"] == C["m"]
    t = C.groupby("t").agg(n_positive=("u", "size"), n1=("ones", "sum"), d_o=("d", "sum"),
                           full=("unanimous", "sum"))
    total = int(multi.sum())
    n0 = total - t["n1"]
    with np.errstate(invalid="ignore", divide="ignore"):
        alpha = np.where((n0 == 0) | (t["n1"] == 0), np.nan, 1.0 - (total - 1) * t["d_o"] / (n0 * t["n1"]))
    out["per_tag"] = pd.DataFrame({
        "tag": t.index, "n_items": len(multi), "n_positive": t["n_positive"].to_numpy(), "alpha": alpha,
        "observed": ((len(multi) - t["n_positive"] + t["full"]) / len(multi)).to_numpy(),
    }).sort_values("tag").reset_index(drop=True)[tag_cols]
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
