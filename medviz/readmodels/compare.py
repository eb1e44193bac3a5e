"""Model vs model: on the units both models answered, where A is right and B wrong (and vice versa), overall
and per category / modality, with McNemar's exact test per slice; the discordant units open in Review.

"Right" is a unit fully right (both images of a pair, or the item), as on the Errors page. McNemar's exact
test looks only at the discordant units: under "the models are equally good" each of the b + c discordant
units is as likely to favour A as B, so the two-sided p-value is the Binomial(b + c, 1/2) probability of a
split at least as uneven as the one seen. p-values are per slice; ``p_holm`` adjusts them for the number of
slices shown (Holm's step-down method).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..store import views as sqlv

BY = ("category", "modality")
DIRECTIONS = {"a_only": "A right, B wrong", "b_only": "B right, A wrong"}
ALL = "(all units)"
COLUMNS = ["slice", "units", "both_right", "a_only", "b_only", "both_wrong", "a_accuracy", "b_accuracy",
           "p_mcnemar", "p_holm"]
HOW_TO_READ = ("Each row: units both models answered in the slice; 'A right, B wrong' and 'B right, A wrong' are "
               "the discordant units McNemar's exact test compares (p < 0.05: the difference is unlikely under equal "
               "accuracy; Holm-adjusted for the number of slices). 'review ›' steps through those units in "
               "Review.")


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: P(X <= min(b, c)) * 2 for X ~ Binomial(b + c, 1/2), capped at 1
    (equal to ``scipy.stats.binomtest(b, b + c, 0.5).pvalue``)."""
    n, k = int(b) + int(c), min(int(b), int(c))
    if n == 0 or 2 * k == n:
        return 1.0
    log_half_n = n * math.log(0.5)
    logs = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + log_half_n for i in range(k + 1)]
    top = max(logs)
    tail = math.exp(top) * sum(math.exp(x - top) for x in logs)
    return min(1.0, 2.0 * tail)


def holm(p: list[float]) -> list[float]:
    """Holm step-down adjusted p-values (same order as given)."""
    order = np.argsort(p, kind="stable")
    m, out, running = len(p), [0.0] * len(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def _slices(df: pd.DataFrame, by: str) -> pd.DataFrame:
    """One row per (unit, slice value): a unit counts toward each of its categories / modalities."""
    col = "categories" if by == "category" else "modalities"
    e = df.assign(slice=df[col].map(lambda v: list(v) if v is not None and len(v) else ["(none)"])).explode("slice")
    return e


def paired(store, benchmark_id: str, model_a: str, model_b: str) -> pd.DataFrame:
    return sqlv.paired_outcomes(store.cursor(), benchmark_id, model_a, model_b)


def compare_models(store, benchmark_id: str, model_a: str, model_b: str, by: str = "category") -> pd.DataFrame:
    """The model-vs-model table (``COLUMNS``): first the row for all units, then one per slice of ``by``."""
    if by not in BY:
        from ..errors import MedvizError
        raise MedvizError(f"cannot compare by {by!r}; choose {' or '.join(BY)}", field="by")
    df = paired(store, benchmark_id, model_a, model_b)
    if df.empty:
        return pd.DataFrame(columns=COLUMNS)
    rows = []
    for name, g in [(ALL, df)] + list(_slices(df, by).groupby("slice", sort=True)):
        a, b = g["a_correct"].astype(bool), g["b_correct"].astype(bool)
        n, ao, bo = len(g), int((a & ~b).sum()), int((b & ~a).sum())
        rows.append({"slice": name, "units": n, "both_right": int((a & b).sum()), "a_only": ao, "b_only": bo,
                     "both_wrong": int((~a & ~b).sum()), "a_accuracy": a.mean(), "b_accuracy": b.mean(),
                     "p_mcnemar": mcnemar_exact(ao, bo)})
    out = pd.DataFrame(rows)
    out["p_holm"] = [out.loc[0, "p_mcnemar"]] + holm(list(out["p_mcnemar"].iloc[1:])) if len(out) > 1 else \
        list(out["p_mcnemar"])
    return out[COLUMNS]


def discordant_units(store, benchmark_id: str, model_a: str, model_b: str, direction: str, by: str | None = None,
                     value: str | None = None) -> list[str]:
    """Unit ids (review order) where only A (``a_only``) or only B (``b_only``) is right, in one slice or all."""
    df = paired(store, benchmark_id, model_a, model_b)
    if df.empty or direction not in DIRECTIONS:
        return []
    if by in BY and value not in (None, ALL):
        df = _slices(df, by)
        df = df[df["slice"] == value]
    a, b = df["a_correct"].astype(bool), df["b_correct"].astype(bool)
    keep = (a & ~b) if direction == "a_only" else (b & ~a)
    return list(dict.fromkeys(df.loc[keep, "unit_id"].astype(str)))


def display_table(t: pd.DataFrame) -> pd.DataFrame:
    """Human labels for the page (A and B as picked; counts as numbers, accuracies and p-values as text)."""
    def p(x):
        return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else ("< 0.001" if x < 1e-3 else f"{x:.3f}")
    return pd.DataFrame({
        "slice": t["slice"], "units both answered": t["units"].astype(int),
        "both right": t["both_right"].astype(int),
        "A right, B wrong": t["a_only"].astype(int),
        "B right, A wrong": t["b_only"].astype(int),
        "both wrong": t["both_wrong"].astype(int),
        "A accuracy": [f"{100 * x:.0f}%" for x in t["a_accuracy"]],
        "B accuracy": [f"{100 * x:.0f}%" for x in t["b_accuracy"]],
        "McNemar exact p": [p(x) for x in t["p_mcnemar"]],
        "p (Holm, across slices)": [p(x) for x in t["p_holm"]],
    })
