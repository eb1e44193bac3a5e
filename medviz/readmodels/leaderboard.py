"""The Leaderboard page: one row per model with the official metrics, Wilson intervals and the random-guess
baseline."""
from __future__ import annotations

import math

import pandas as pd

from .. import evaluate
from ..errors import MedvizError
from ..store import core


def leaderboard(store, benchmark_id: str, models: list[str] | None = None) -> pd.DataFrame:
    """One row per model: official metrics with Wilson intervals and the random-guess baseline."""
    bench = core.benchmark(store.cursor(), benchmark_id)
    if bench is None:
        raise MedvizError(f"benchmark '{benchmark_id}' is not in the store")
    scores = evaluate.score_store(store, benchmark_id, models or None)
    mdf = core.models(store.cursor(), benchmark_id).set_index("model")
    rows = []
    for model, m in scores.items():
        row = {"model": model, "synthetic": bool(mdf.loc[model, "synthetic"]) if model in mdf.index else False}
        pm = m if "set_accuracy" in m else m.get("pairs")
        if pm:
            for k in ("set_accuracy", "individual_accuracy", "confusion", "invalid", "image_blind"):
                ci = pm["ci"][k]
                row[k], row[k + "_low"], row[k + "_high"], row[k + "_n"] = pm[k], ci["ci_low"], ci["ci_high"], ci["n"]
            row["pairs"] = pm["pairs"]
            row["baseline"] = 0.25
            row["headline"] = "set_accuracy"
        if "overall" in m:
            ci = m["ci"]["overall"]
            row.update(accuracy=m["overall"], accuracy_low=ci["ci_low"], accuracy_high=ci["ci_high"],
                       items=m["rows"])
            if not pm:
                row["baseline"] = m.get("baseline", {}).get("overall", math.nan)
                row["headline"] = "accuracy"
        rows.append(row)
    return pd.DataFrame(rows)
