"""The Embeddings page: the encoder's 2-D map (``medviz.encoders.embedding_map``, the one PCA/UMAP layout)
joined with what the map can be coloured by, and the sample of points the browser draws."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..annotations.stats import ENCODER_BLIND_THRESHOLD, encoder_similarities
from ..encoders import embedding_map
from ..errors import MedvizError
from ..store import views as sqlv
from .errors import annotation_index

MAP_MAX_POINTS = 20_000


def embedding_frame(store, benchmark_id: str, encoder_id: str, models: list[str] | None,
                    method: str = "pca", map_frame: pd.DataFrame | None = None,
                    similarities: pd.DataFrame | None = None) -> pd.DataFrame:
    """The encoder's 2-D map joined with what the map can be coloured by: correctness, tag, modality,
    encoder-blind (pair cosine above the threshold of the annotation statistics). ``map_frame`` and
    ``similarities`` may be passed in when the caller caches them (they do not change when tags do)."""
    m = map_frame if map_frame is not None else embedding_map(store, benchmark_id, encoder_id, method)
    out = sqlv.item_outcomes(store.cursor(), benchmark_id, models)
    df = m.merge(out.drop(columns=[c for c in ("modality",) if c in m.columns]), on="item_id", how="left")
    n = df["n_models"].fillna(0).to_numpy()
    k = df["n_correct"].fillna(0).to_numpy()
    df["correctness"] = np.select([n == 0, k == n, k == 0], ["no prediction", "all models right", "all models wrong"],
                                  "some models wrong")
    idx = annotation_index(store, benchmark_id)
    first_tag = (idx.rows.assign(top=idx.rows["tag"].astype(str).str.split("/").str[0])
                 .groupby("unit_id")["top"].first()) if not idx.rows.empty else pd.Series(dtype=str)
    df["tag"] = df["unit_id"].map(first_tag).astype(object).fillna("untagged")
    df["encoder_blind"] = "unknown"
    try:
        sims = similarities if similarities is not None else encoder_similarities(store, benchmark_id)
    except MedvizError:
        sims = None
    col = f"sim_{encoder_id}"
    if sims is not None and col in sims.columns:
        blind = sims.set_index("pair_id")[col] >= ENCODER_BLIND_THRESHOLD
        df["encoder_blind"] = df["unit_id"].map(blind).map(
            lambda v: "not a pair" if pd.isna(v) else ("encoder-blind" if v else "encoder tells apart"))
    if "modality" not in df.columns:
        df["modality"] = None
    df["modality"] = df["modality"].fillna("(none)")
    df.attrs.update({k: m.attrs[k] for k in ("map", "stored_map") if k in m.attrs})   # (merges drop attrs)
    return df


def map_state(df: pd.DataFrame, method: str) -> str | None:
    """Why the Embeddings page's map is not the stored one: ``stale`` (the store holds a map drawn from other
    vectors or items), ``missing`` (none stored yet), or None (the stored map is shown, or ``method`` is one
    that is never stored). ``df``: ``embedding_frame``'s frame (its ``attrs`` say what the store holds)."""
    from ..encoders.maps import STORED_METHODS
    if method not in STORED_METHODS or df.attrs.get("map") == "stored":
        return None
    return "stale" if df.attrs.get("stored_map") == "stale" else "missing"


def map_sample(df: pd.DataFrame, max_points: int = MAP_MAX_POINTS, seed: int = 0) -> pd.DataFrame:
    """The points the 2-D map draws: all of them, or a fixed random sample when there are more than a
    browser draws smoothly (the caption says so; neighbours and Review still reach every image)."""
    if len(df) <= max_points:
        return df
    return df.sample(n=max_points, random_state=seed).sort_index()
