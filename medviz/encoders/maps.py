"""The encoder's view of a whole benchmark: the 2-D map of every image (one PCA, UMAP when installed) and
nearest neighbours by cosine. Both are what the Embeddings page and the CLI show; every row names the encoder
and weights digest."""
from __future__ import annotations

import logging
import threading
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


def _layout(store, benchmark_id: str, encoder_id: str, method: str) -> tuple[pd.DataFrame, np.ndarray,
                                                                            tuple[str, str]]:
    """(item frame, n×2 layout, (weights digest, decode mode)) computed from the cached vectors."""
    if method not in ("pca", "umap"):
        raise MedvizError(f"unknown map method '{method}' (pca or umap)", field="method")
    if method == "umap":
        extras.ensure_requirements("umap", hint="use method='pca'", field="method")
    meta, vecs, key = vectors(store, benchmark_id, encoder_id)
    if method == "umap":
        import umap
        n = len(vecs)
        xy = umap.UMAP(n_components=2, n_neighbors=max(2, min(15, n - 1)), metric="cosine",
                       random_state=0).fit_transform(vecs) if n > 2 else np.zeros((n, 2))
    else:
        xy = pca_2d(vecs)
    return meta, xy, key


def map_status(store, benchmark_id: str, encoder_id: str, method: str = "pca") -> str:
    """``fresh`` (the stored map was drawn from the vectors cached now), ``stale`` (vectors or items changed
    since) or ``missing``."""
    return _stored(store, benchmark_id, encoder_id, method, read=False)[2]


def refresh_map(store, benchmark_id: str, encoder_id: str, method: str = "pca", *, force: bool = False) -> bool:
    """Compute and store the benchmark's map under the encoder unless the stored one is fresh; True when
    it was (re)computed. Called when vectors change (the end of ``compute_embeddings``: ``medviz embed`` and
    the embed job; vectors pushed to the server), so the Embeddings page reads it instead of computing it."""
    from .embed import current_key
    if not force and map_status(store, benchmark_id, encoder_id, method) == "fresh":
        return False
    # The fingerprint is taken before the vectors are read: vectors arriving meanwhile (pushes go on while
    # the map is drawn) make the stored map stale, never "fresh" with points missing.
    key = current_key(store, benchmark_id, encoder_id)
    inputs = esql.map_inputs(store.cursor(), benchmark_id, encoder_id, key[0], decode=key[1]) if key else ""
    t0 = time.perf_counter()
    meta, xy, (digest, decode) = _layout(store, benchmark_id, encoder_id, method)
    seconds = time.perf_counter() - t0
    with store.transaction() as tx:       # a job's WriterStore: through the store's one writer
        esql.replace_map(tx, benchmark_id, encoder_id, method, digest, inputs, meta["item_id"], xy, seconds)
    return True


# --- redrawing the stored map after vectors arrive in batches (PUT /embeddings) ---------------------------

REFRESH_DELAY_S = 2.0       # quiet time after the last batch before the map is redrawn
REFRESH_MAX_WAIT_S = 30.0   # ... but no later than this after the first batch of a burst

_refresh_lock = threading.Condition()
_refresh_pending: dict[tuple, tuple[threading.Timer, float]] = {}     # key -> (timer, first asked at)
_refresh_running = 0
_log = logging.getLogger("medviz.encoders.maps")


def schedule_refresh(store, benchmark_id: str, encoder_id: str, *, delay: float | None = None,
                     on_done=None) -> None:
    """Redraw the benchmark's stored map under the encoder (``refresh_map`` through the store's one writer,
    as the embed job does) in the background, once vectors stop arriving: a GPU worker pushes hundreds of
    batches, and each batch would otherwise redraw the whole map. Each call postpones a pending redraw of the
    same map by ``delay`` (``REFRESH_DELAY_S``), up to ``REFRESH_MAX_WAIT_S`` after the first. ``on_done()``
    runs after a redraw that stored a map (the server drops the app's cached queries there)."""
    delay = REFRESH_DELAY_S if delay is None else delay
    key = (id(store), benchmark_id, encoder_id)
    now = time.monotonic()
    with _refresh_lock:
        old = _refresh_pending.get(key)
        first = old[1] if old else now
        if old is not None:
            if now - first >= REFRESH_MAX_WAIT_S:
                return                       # the pending redraw fires soon and will see these vectors
            old[0].cancel()
        timer = threading.Timer(delay, _run_refresh)
        timer.args = (key, timer, store, benchmark_id, encoder_id, on_done)
        timer.daemon = True
        timer.name = f"medviz-map-refresh-{benchmark_id}"
        _refresh_pending[key] = (timer, first)
        timer.start()


def _run_refresh(key, token, store, benchmark_id: str, encoder_id: str, on_done) -> None:
    """The redraw of a pending entry; runs once per entry (on its timer's thread or in ``flush_refreshes``)."""
    global _refresh_running
    with _refresh_lock:
        entry = _refresh_pending.get(key)
        if entry is None or entry[0] is not token:
            return                           # superseded by a later batch, or already run by the other caller
        del _refresh_pending[key]
        _refresh_running += 1
    try:
        from ..jobs import WriterStore
        if refresh_map(WriterStore(store), benchmark_id, encoder_id) and on_done is not None:
            on_done()
    except Exception:  # noqa: BLE001 - a background redraw must not kill the server; the page computes the map
        _log.warning("redrawing the map of %s under %s failed", benchmark_id, encoder_id, exc_info=True)
    finally:
        with _refresh_lock:
            _refresh_running -= 1
            _refresh_lock.notify_all()


def flush_refreshes(store=None, timeout: float = 60.0) -> bool:
    """Run the pending redraws (of ``store``, or all) now and wait for every running one; True when none is
    left. The server calls it before it closes the store, so a map pushed just before shutdown is stored."""
    with _refresh_lock:
        due = [t for k, (t, _) in _refresh_pending.items() if store is None or k[0] == id(store)]
    for timer in due:
        timer.cancel()
        _run_refresh(*timer.args)
    deadline = time.monotonic() + timeout
    with _refresh_lock:
        while _refresh_running or any(store is None or k[0] == id(store) for k in _refresh_pending):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            _refresh_lock.wait(left)
    return True


def _stored(store, benchmark_id: str, encoder_id: str, method: str, *, read: bool = True):
    """(the stored map's frame with x, y when it is fresh and ``read``, else None; (weights digest, decode mode)
    of the vectors read now, or None; status: ``fresh`` (drawn from the vectors cached now), ``stale``
    (vectors or items changed since) or ``missing``)."""
    from .embed import current_key
    cur = store.cursor()
    info = esql.stored_map_info(cur, benchmark_id, encoder_id, method)
    key = current_key(store, benchmark_id, encoder_id)
    if info is None:
        return None, key, "missing"
    if key is None or key[0] != info["weights_digest"] or info["inputs"] != esql.map_inputs(
            cur, benchmark_id, encoder_id, key[0], decode=key[1]):
        return None, key, "stale"
    return (esql.stored_map(cur, benchmark_id, encoder_id, method) if read else None), key, "fresh"


def embedding_map(store, benchmark_id: str, encoder_id: str, method: str = "pca", *,
                  model: str | None = None) -> pd.DataFrame:
    """2-D layout of the benchmark's items under an encoder: PCA always, UMAP when umap-learn is installed.

    The map stored when the vectors last changed (``refresh_map``) is read when it is fresh; a missing or
    stale one is computed from the vectors (``attrs["map"]`` says which: "stored" or "computed";
    ``attrs["stored_map"]`` what the store holds: "fresh", "stale" or "missing", as ``map_status``).
    Columns: item_id, x, y, pair_id, slot, modality, answer, categories, image_sha256, partner_item_id,
    encoder_id, weights_digest, decode, method; with ``model`` also that model's ``parsed`` letter and
    ``correct``.
    """
    out, key, status = (_stored(store, benchmark_id, encoder_id, method) if method in ("pca", "umap")
                        else (None, None, "missing"))
    if out is not None:
        source = "stored"
    else:
        meta, xy, key = _layout(store, benchmark_id, encoder_id, method)
        out = meta.copy()
        out.insert(1, "x", xy[:, 0].astype(float))
        out.insert(2, "y", xy[:, 1].astype(float))
        source = "computed"
    partners = _partners(store.cursor(), benchmark_id)
    out["partner_item_id"] = out["item_id"].map(partners)
    out["encoder_id"], out["weights_digest"], out["decode"], out["method"] = encoder_id, key[0], key[1], method
    if model:
        preds = core.predictions_for_items(store.cursor(), benchmark_id, out["item_id"].tolist(), [model])
        p = preds.set_index("item_id")
        out["parsed"] = out["item_id"].map(p["parsed"]) if len(p) else None
        out["correct"] = out["item_id"].map(p["correct"]) if len(p) else None
    out.attrs["map"], out.attrs["stored_map"] = source, status
    return out


def neighbours(store, benchmark_id: str, encoder_id: str, item_id: str, k: int = 8) -> pd.DataFrame:
    """The ``k`` items of the benchmark whose images embed closest to ``item_id``'s (cosine, highest first)."""
    meta, vecs, (digest, decode) = vectors(store, benchmark_id, encoder_id)
    where = np.flatnonzero(meta["item_id"].to_numpy() == item_id)
    if len(where) == 0:
        raise MedvizError(f"item '{item_id}' has no embedding for encoder '{encoder_id}' (image missing or not "
                          f"computed: run medviz embed {benchmark_id} --encoder {encoder_id})", record=item_id)
    cos = vecs @ vecs[where[0]]
    order = [i for i in np.argsort(-cos, kind="stable") if i != where[0]][:k]
    return pd.DataFrame({"item_id": meta["item_id"].to_numpy()[order], "cosine": cos[order].astype(float),
                         "encoder_id": encoder_id, "weights_digest": digest, "decode": decode})
