"""Reading annotations back: the current view, one annotation's history, per-target tag sets."""
from __future__ import annotations

import pandas as pd

from ..store import annotations as sql

ALL_MODELS = "(all models)"


def current_annotations(store, benchmark_id: str | None = None, *, model: str | None = None,
                        reviewer: str | None = None, target_id: str | None = None,
                        include_retracted: bool = False, kind: str | None = None) -> pd.DataFrame:
    """Latest revision of each annotation (retracted ones dropped), newest last.

    ``model`` keeps annotations for that model and those for all models (``model`` is null).
    """
    df = sql.current(store.cursor(), benchmark_id, include_retracted=include_retracted, target_id=target_id)
    if model is not None:
        df = df[df["model"].isna() | (df["model"] == model)]
    if reviewer is not None:
        df = df[df["reviewer"] == reviewer]
    if kind is not None:
        df = df[df["kind"] == kind]
    df = df.reset_index(drop=True)
    if len(df):
        df["tags"] = df["tags"].map(list)
        df["settles"] = df["settles"].map(lambda v: list(v) if v is not None else [])
    return df


def history(store, annotation_id: str) -> pd.DataFrame:
    """Every revision of one annotation, oldest first (retractions included)."""
    return sql.history(store.cursor(), annotation_id)


def units(df: pd.DataFrame) -> pd.DataFrame:
    """Add ``unit``: the thing judged — (benchmark, target type, target, model or all models)."""
    model = df["model"].astype(object).where(df["model"].notna(), ALL_MODELS)
    return df.assign(model_key=model,
                     unit=df["benchmark_id"] + "|" + df["target_type"] + "|" + df["target_id"] + "|" + model)
