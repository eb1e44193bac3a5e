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


def _positives(store, benchmark_id: str, units=None) -> tuple[pd.DataFrame, pd.DataFrame, list, list, list]:
    """Integer-coded judgements: J (u, r) one row per unit x reviewer with its tag-set signature and size,
    P (u, r, t, tc) one row per tag a reviewer applied to a unit (tc: the tag's code); plus the unit,
    reviewer and tag labels. ``units``: only these unit keys."""
    df = sql.reviewer_tags(store.cursor(), benchmark_id, ALL_MODELS)
    if units is not None:
        df = df[df["unit"].isin(set(units))]
    if df.empty:
        return (pd.DataFrame(columns=["u", "r", "sig", "npos"]), pd.DataFrame(columns=["u", "r", "t", "tc"]),
                [], [], [])
    u_codes, u_labels = pd.factorize(df["unit"], sort=True)
    r_codes, r_labels = pd.factorize(df["reviewer"], sort=True)
    base = pd.DataFrame({"u": u_codes, "r": r_codes, "tags": df["tags"].to_numpy()})
    P = base.explode("tags").dropna(subset=["tags"]).rename(columns={"tags": "t"})
    P = P.drop_duplicates(["u", "r", "t"]).sort_values(["u", "r", "t"], kind="stable")
    J = base[["u", "r"]].drop_duplicates()
    t_codes, t_labels = pd.factorize(P["t"])
    P["tc"] = t_codes
    if len(t_labels) <= 62:       # a tag set as a bit mask: exact, and summed in C
        sig = pd.Series(np.left_shift(1, t_codes.astype(np.int64)), index=P.index).groupby(
            [P["u"], P["r"]]).sum().astype(str).rename("sig")
    else:
        sig = P.groupby(["u", "r"])["t"].agg("|".join).rename("sig")
    npos = P.groupby(["u", "r"]).size().rename("npos")
    J = J.join(sig, on=["u", "r"]).join(npos, on=["u", "r"])
    J["sig"] = J["sig"].fillna("")
    J["npos"] = J["npos"].fillna(0).astype(int)
    return J, P, list(u_labels), list(r_labels), list(t_labels)


def _pair_arrays_all(J: pd.DataFrame, P: pd.DataFrame):
    """For every reviewer pair, per unit both judged: positives of each, shared positives, exact match, and
    which tags either used (unit position, tag code): every sum Cohen's kappa needs, per unit. Yields
    ``(ra, rb, arrays)`` in (ra, rb) order; one pass over the data (no per-pair filtering)."""
    if J.empty:
        return
    pairs = J.merge(J, on="u", suffixes=("_a", "_b"))
    pairs = pairs[pairs["r_a"] < pairs["r_b"]]
    both = P.merge(P, on=["u", "t"], suffixes=("_a", "_b"))
    both = both[both["r_a"] < both["r_b"]].groupby(["r_a", "r_b", "u"]).size().rename("both")
    pairs = pairs.join(both, on=["r_a", "r_b", "u"]).fillna({"both": 0})
    pairs = pairs.sort_values(["r_a", "r_b", "u"], kind="stable").reset_index(drop=True)
    shared = pairs[["u", "r_a", "r_b"]]
    side_a = shared.merge(P[["u", "r", "tc"]].rename(columns={"r": "r_a"}), on=["u", "r_a"])
    side_b = shared.merge(P[["u", "r", "tc"]].rename(columns={"r": "r_b"}), on=["u", "r_b"])
    inc = (pd.concat([side_a, side_b], ignore_index=True)[["r_a", "r_b", "u", "tc"]].drop_duplicates()
           .sort_values(["r_a", "r_b"], kind="stable"))
    inc_groups = inc.groupby(["r_a", "r_b"], sort=False).indices
    inc_u, inc_t = inc["u"].to_numpy(), inc["tc"].to_numpy()
    cols = {c: pairs[c].to_numpy() for c in ("u", "npos_a", "npos_b", "both", "sig_a", "sig_b")}
    for (ra, rb), idx in pairs.groupby(["r_a", "r_b"], sort=True).indices.items():
        units = cols["u"][idx]
        k = inc_groups.get((ra, rb), np.array([], dtype=int))
        tags, t_pos = np.unique(inc_t[k], return_inverse=True)
        m = np.zeros((len(units), len(tags)), dtype=bool)
        m[np.searchsorted(units, inc_u[k]), t_pos] = True
        per_unit = np.column_stack([cols["npos_a"][idx], cols["npos_b"][idx], cols["both"][idx],
                                    cols["sig_a"][idx] == cols["sig_b"][idx], m]).astype(float)
        # units with the same contribution are interchangeable: resampling units = resampling these kinds
        kinds, counts = np.unique(per_unit, axis=0, return_counts=True)
        yield ra, rb, {"n": len(units), "count": counts.astype(float), "inc": kinds[:, 4:] > 0,
                       "npos_a": kinds[:, 0], "npos_b": kinds[:, 1], "both": kinds[:, 2], "exact": kinds[:, 3]}


def _kappa_w(a: dict, W: np.ndarray) -> dict:
    """Cohen's kappa (and observed agreement, exact match) for unit weights ``W`` (draws x units; all ones =
    the data as it is, multinomial counts = a bootstrap resample)."""
    n_items = W.sum(axis=1)
    n_tags = ((W > 0).astype(float) @ a["inc"] > 0).sum(axis=1) if a["inc"].shape[1] else np.zeros(len(W))
    n = n_items * n_tags
    A, B, both = W @ a["npos_a"], W @ a["npos_b"], W @ a["both"]
    with np.errstate(invalid="ignore", divide="ignore"):
        po = (n - A - B + 2 * both) / n
        pe = (A / n) * (B / n) + ((n - A) / n) * ((n - B) / n)
        kappa = np.where(pe >= 1, np.nan, (po - pe) / (1 - pe))
        exact = (W @ a["exact"]) / n_items
    return {"kappa": kappa, "observed": np.where(n > 0, po, np.nan), "n_decisions": n, "exact_match": exact}


def _alpha_w(ones: np.ndarray, m: np.ndarray, W: np.ndarray) -> dict:
    """Krippendorff's alpha (binary) of one tag for unit weights ``W``: ``ones`` = reviewers who applied the
    tag, ``m`` = reviewers, per unit (units with >= 2 reviewers)."""
    d = ones * (m - ones) / (m - 1)
    n1, d_o, total = W @ ones, W @ d, W @ m
    n0 = total - n1
    n_items = W.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        alpha = np.where((n0 == 0) | (n1 == 0), np.nan, 1.0 - (total - 1) * d_o / (n0 * n1))
        observed = (n_items - W @ (ones > 0).astype(float) + W @ (ones == m).astype(float)) / n_items
    return {"alpha": alpha, "observed": observed, "n_positive": W @ (ones > 0).astype(float)}


BOOTSTRAP_DRAWS = 1000


def _interval(draws: np.ndarray) -> tuple[float, float]:
    """Percentile 95% interval of bootstrap draws (NaN when fewer than half the draws are defined)."""
    ok = draws[np.isfinite(draws)]
    if len(ok) < max(1, len(draws) // 2):
        return math.nan, math.nan
    return float(np.quantile(ok, 0.025)), float(np.quantile(ok, 0.975))


_CHUNK_CELLS = 4_000_000      # draws x units per chunk of resampling weights (32 MB of float64)


def _resample(rng, counts: np.ndarray, draws: int):
    """Bootstrap weights in chunks. ``counts``: how many units there are of each kind (units of one kind
    contribute the same to every sum). Drawing n = sum(counts) units with replacement puts
    Multinomial(n, counts / n) of them in each kind: exactly the unit bootstrap, at the cost of the kinds."""
    counts = np.asarray(counts, dtype=float)
    n, k_kinds = int(counts.sum()), len(counts)
    per = max(1, min(draws, _CHUNK_CELLS // max(1, k_kinds)))
    done = 0
    while done < draws:
        k = min(per, draws - done)
        yield rng.multinomial(n, counts / n, size=k).astype(float)
        done += k


def agreement_from_codes(J: pd.DataFrame, P: pd.DataFrame, reviewers: list, tags: list, *,
                         draws: int = BOOTSTRAP_DRAWS, seed: int = 0) -> dict:
    """Agreement from integer-coded judgements (see ``_positives``): J (u, r, sig, npos), P (u, r, t, tc).

    Every figure is computed from per-unit sums; the 95% intervals resample units with replacement
    (``draws`` bootstrap resamples, percentile interval; ``draws=0`` skips them)."""
    rng = np.random.default_rng(seed)
    cohen_cols = ["reviewer_a", "reviewer_b", "n_items", "n_decisions", "kappa", "kappa_low", "kappa_high",
                  "observed", "exact_match"]
    tag_cols = ["tag", "n_items", "n_positive", "alpha", "alpha_low", "alpha_high", "observed"]
    out = {"n_units": int(J["u"].nunique()) if len(J) else 0, "reviewers": sorted(reviewers)}
    rows = []
    for ra, rb, a in _pair_arrays_all(J, P):
        point = _kappa_w(a, a["count"][None, :])
        lo = hi = math.nan
        if draws and a["n"] > 1:
            lo, hi = _interval(np.concatenate([_kappa_w(a, W)["kappa"] for W in _resample(rng, a["count"], draws)]))
        rows.append({"reviewer_a": reviewers[ra], "reviewer_b": reviewers[rb], "n_items": a["n"],
                     "n_decisions": int(point["n_decisions"][0]), "kappa": float(point["kappa"][0]),
                     "kappa_low": lo, "kappa_high": hi, "observed": float(point["observed"][0]),
                     "exact_match": float(point["exact_match"][0])})
    out["cohen"] = (pd.DataFrame(rows, columns=cohen_cols).sort_values(["reviewer_a", "reviewer_b"])
                    .reset_index(drop=True))
    m = J.groupby("u").size() if len(J) else pd.Series(dtype=int)
    multi = m[m >= 2]
    out["n_multi"] = int(len(multi))
    if multi.empty:
        out["per_tag"] = pd.DataFrame(columns=tag_cols)
        return out
    counts = P[P["u"].isin(multi.index)].groupby(["t", "u"]).size()
    tag_names = sorted(counts.index.get_level_values(0).unique())
    per_unit = np.column_stack([multi.to_numpy(float)] + [
        counts.loc[t].reindex(multi.index, fill_value=0).to_numpy(float) for t in tag_names])
    kinds, n_kind = np.unique(per_unit, axis=0, return_counts=True)    # interchangeable units, counted
    n_kind = n_kind.astype(float)
    mu = kinds[:, 0]
    ones = {t: kinds[:, 1 + j] for j, t in enumerate(tag_names)}
    boot = {t: [] for t in tag_names}
    if draws and len(multi) > 1:
        for W in _resample(rng, n_kind, draws):        # the same resampled units for every tag
            for t in tag_names:
                boot[t].append(_alpha_w(ones[t], mu, W)["alpha"])
    rows = []
    for t in tag_names:
        point = _alpha_w(ones[t], mu, n_kind[None, :])
        lo, hi = _interval(np.concatenate(boot[t])) if boot[t] else (math.nan, math.nan)
        rows.append({"tag": t, "n_items": len(multi), "n_positive": int(point["n_positive"][0]),
                     "alpha": float(point["alpha"][0]), "alpha_low": lo, "alpha_high": hi,
                     "observed": float(point["observed"][0])})
    out["per_tag"] = pd.DataFrame(rows, columns=tag_cols)
    return out


def agreement(store, benchmark_id: str, *, units=None, draws: int = BOOTSTRAP_DRAWS, seed: int = 0) -> dict:
    """Inter-reviewer agreement on one benchmark, optionally only on ``units`` (unit keys as in
    ``reviewer_tags``: ``benchmark|target_type|target_id|model``; see ``unit_keys``).

    Returns ``{"cohen": DataFrame(reviewer_a, reviewer_b, n_items, n_decisions, kappa, kappa_low, kappa_high,
    observed, exact_match), "per_tag": DataFrame(tag, n_items, n_positive, alpha, alpha_low, alpha_high,
    observed), "n_units", "n_multi" (units with >= 2 reviewers), "reviewers"}``; ``*_low``/``*_high``: 95%
    bootstrap interval, units resampled with replacement (fixed ``seed``: the same data gives the same interval).

    Cohen, per reviewer pair: over the units both judged, every (unit, tag) for the tags either used on
    those units is a yes/no decision; with n decisions, A and B positives and ``both`` shared positives,
    observed = (n - A - B + 2 both) / n and chance = A B / n^2 + (n - A)(n - B) / n^2.
    """
    J, P, _units, reviewers, tags = _positives(store, benchmark_id, units)
    return agreement_from_codes(J, P, reviewers, tags, draws=draws, seed=seed)


def unit_keys(store, benchmark_id: str, *, modality: str | None = None, model: str | None = None,
              tag: str | None = None) -> set[str]:
    """The reviewed units (keys as ``agreement`` takes them) of a filter: the target's modality (one of a
    pair's), the unit's model (``ALL_MODELS`` for annotations on every model), a tag or tag group some
    reviewer applied."""
    df = sql.reviewer_tags(store.cursor(), benchmark_id, ALL_MODELS)
    if df.empty:
        return set()
    parts = df["unit"].str.split("|", n=3, expand=True)
    keep = pd.Series(True, index=df.index)
    if model:
        keep &= parts[3] == model
    if modality:
        ctx = sql.target_context(store.cursor(), benchmark_id)
        ok = {(tt, tid) for tt, tid, mod in zip(ctx["target_type"], ctx["target_id"], ctx["modality"])
              if isinstance(mod, str) and modality in [x.strip() for x in mod.split("|")]}
        keep &= np.array([(tt, tid) in ok for tt, tid in zip(parts[1], parts[2])], dtype=bool)
    if tag:
        hit = df["tags"].map(lambda ts: any(t == tag or t.startswith(tag + "/") for t in ts))
        keep &= df["unit"].isin(set(df.loc[hit, "unit"]))
    return set(df.loc[keep, "unit"])


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
