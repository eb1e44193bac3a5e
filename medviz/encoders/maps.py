"""The encoder's view of a whole benchmark: the 2-D map of every image (one PCA, UMAP when installed) and
nearest neighbours by cosine. Both are what the Embeddings page and the CLI show; every row names the encoder
and weights digest."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from .. import extras
from ..errors import MedvizError
from ..store import core
from ..store import embeddings as esql
from .embed import vectors


def _partners(cur, benchmark_id: str) -> dict[str, str]:
    pr = core.pairs(cur, benchmark_id)
    out = dict(zip(pr["item_1"], pr["item_2"]))
    out.update(zip(pr["item_2"], pr["item_1"]))
    return out


PCA_FIT_SAMPLE = 5000


def pca_2d(vecs: np.ndarray, fit_sample: int = PCA_FIT_SAMPLE) -> np.ndarray:
    """The top two principal axes of ``vecs`` (n×d), every row projected: n×2. The axes come from the d×d
    covariance (``eigsh``, top two only) rather than an SVD of the n×d matrix (same axes up to sign); above
    ``fit_sample`` rows they are fitted on a seeded sample of that size, so 20,000 images take about a second
    on a small CPU where the full SVD takes tens of seconds."""
    x = np.asarray(vecs, dtype=np.float32)
    x = x - x.mean(axis=0, keepdims=True)
    if len(x) < 2:
        return np.zeros((len(x), 2))
    fit = x[np.random.default_rng(0).choice(len(x), fit_sample, replace=False)] if len(x) > fit_sample else x
    cov = (fit.T @ fit).astype(np.float64)
    if cov.shape[0] > 3:
        from scipy.sparse.linalg import eigsh      # imported here: scipy costs ~1 s at app start
        w, v = eigsh(cov, k=2, which="LA", v0=np.ones(cov.shape[0]))
    else:
        w, v = np.linalg.eigh(cov)
    xy = x @ v[:, np.argsort(w)[::-1][:2]].astype(np.float32)
    return np.pad(xy, ((0, 0), (0, 2 - xy.shape[1]))) if xy.shape[1] < 2 else xy


def map_methods() -> list[str]:
    """The 2-D layouts this installation can draw: PCA always, UMAP with the ``umap`` extra (umap-learn)."""
    return ["pca"] + (["umap"] if extras.available("umap") else [])


STORED_METHODS = ("pca",)    # what ``medviz embed`` stores; UMAP (optional, minutes at 100k) is drawn on request


def _layout(store, benchmark_id: str, encoder_id: str, method: str) -> tuple[pd.DataFrame, np.ndarray, str]:
    """(item frame, n×2 layout, weights digest) computed from the cached vectors."""
    if method not in ("pca", "umap"):
        raise MedvizError(f"unknown map method '{method}' (pca or umap)", field="method")
    if method == "umap":
        extras.ensure_requirements("umap", hint="use method='pca'", field="method")
    meta, vecs, digest = vectors(store, benchmark_id, encoder_id)
    if method == "umap":
        import umap
        n = len(vecs)
        xy = umap.UMAP(n_components=2, n_neighbors=max(2, min(15, n - 1)), metric="cosine",
                       random_state=0).fit_transform(vecs) if n > 2 else np.zeros((n, 2))
    else:
        xy = pca_2d(vecs)
    return meta, xy, digest


def map_status(store, benchmark_id: str, encoder_id: str, method: str = "pca") -> str:
    """``fresh`` (the stored map was drawn from the vectors cached now), ``stale`` (vectors or items changed
    since) or ``missing``."""
    from .embed import current_digest
    cur = store.cursor()
    info = esql.stored_map_info(cur, benchmark_id, encoder_id, method)
    if info is None:
        return "missing"
    digest = current_digest(store, benchmark_id, encoder_id)
    fresh = digest is not None and info["inputs"] == esql.map_inputs(cur, benchmark_id, encoder_id, digest)
    return "fresh" if fresh else "stale"


def refresh_map(store, benchmark_id: str, encoder_id: str, method: str = "pca", *, force: bool = False) -> bool:
    """Compute and store the benchmark's map under the encoder unless the stored one is fresh; True when
    it was (re)computed. Called when vectors change (the end of ``compute_embeddings``: ``medviz embed`` and
    the embed job; vectors pushed to the server), so the Embeddings page reads it instead of computing it."""
    if not force and map_status(store, benchmark_id, encoder_id, method) == "fresh":
        return False
    t0 = time.perf_counter()
    meta, xy, digest = _layout(store, benchmark_id, encoder_id, method)
    seconds = time.perf_counter() - t0
    cur = store.cursor()
    inputs = esql.map_inputs(cur, benchmark_id, encoder_id, digest)
    with store.transaction() as tx:       # a job's WriterStore: through the store's one writer
        esql.replace_map(tx, benchmark_id, encoder_id, method, digest, inputs, meta["item_id"], xy, seconds)
    return True


def _stored(store, benchmark_id: str, encoder_id: str, method: str) -> tuple[pd.DataFrame, str] | None:
    """The stored map as (frame with x, y, digest) when it is fresh, else None."""
    from .embed import current_digest
    cur = store.cursor()
    info = esql.stored_map_info(cur, benchmark_id, encoder_id, method)
    if info is None:
        return None
    digest = current_digest(store, benchmark_id, encoder_id)
    if digest != info["weights_digest"] or info["inputs"] != esql.map_inputs(cur, benchmark_id, encoder_id, digest):
        return None
    return esql.stored_map(cur, benchmark_id, encoder_id, method), digest


def embedding_map(store, benchmark_id: str, encoder_id: str, method: str = "pca", *,
                  model: str | None = None) -> pd.DataFrame:
    """2-D layout of the benchmark's items under an encoder: PCA always, UMAP when umap-learn is installed.

    The map stored when the vectors last changed (``refresh_map``) is read when it is fresh; a missing or
    stale one is computed from the vectors (``attrs["map"]`` says which: "stored" or "computed").
    Columns: item_id, x, y, pair_id, slot, modality, answer, categories, image_sha256, partner_item_id,
    encoder_id, weights_digest, method; with ``model`` also that model's ``parsed`` letter and ``correct``.
    """
    stored = _stored(store, benchmark_id, encoder_id, method) if method in ("pca", "umap") else None
    if stored is not None:
        out, digest = stored
        source = "stored"
    else:
        meta, xy, digest = _layout(store, benchmark_id, encoder_id, method)
        out = meta.copy()
        out.insert(1, "x", xy[:, 0].astype(float))
        out.insert(2, "y", xy[:, 1].astype(float))
        source = "computed"
    partners = _partners(store.cursor(), benchmark_id)
    out["partner_item_id"] = out["item_id"].map(partners)
    out["encoder_id"], out["weights_digest"], out["method"] = encoder_id, digest, method
    if model:
        preds = core.predictions_for_items(store.cursor(), benchmark_id, out["item_id"].tolist(), [model])
        p = preds.set_index("item_id")
        out["parsed"] = out["item_id"].map(p["parsed"]) if len(p) else None
        out["correct"] = out["item_id"].map(p["correct"]) if len(p) else None
    out.attrs["map"] = source
    return out


def neighbours(store, benchmark_id: str, encoder_id: str, item_id: str, k: int = 8) -> pd.DataFrame:
    """The ``k`` items of the benchmark whose images embed closest to ``item_id``'s (cosine, highest first)."""
    meta, vecs, digest = vectors(store, benchmark_id, encoder_id)
    where = np.flatnonzero(meta["item_id"].to_numpy() == item_id)
    if len(where) == 0:
        raise MedvizError(f"item '{item_id}' has no embedding for encoder '{encoder_id}' (image missing or not "
                          f"computed: run medviz embed {benchmark_id} --encoder {encoder_id})", record=item_id)
    cos = vecs @ vecs[where[0]]
    order = [i for i in np.argsort(-cos, kind="stable") if i != where[0]][:k]
    return pd.DataFrame({"item_id": meta["item_id"].to_numpy()[order], "cosine": cos[order].astype(float),
                         "encoder_id": encoder_id, "weights_digest": digest})
