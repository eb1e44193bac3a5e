"""``compute_embeddings``: embed every image of a benchmark once per (encoder, weights), resumably.

Pipeline: one SQL anti-join finds the image contents not yet cached; a thread pool decodes, resizes and crops
images (PIL releases the GIL) a few batches ahead of the model, writing uint8 pixels into one batch buffer
(pinned on CUDA, copied non-blocking; ``prep``); the model's device converts and normalises them; the batch is
encoded under autocast on CUDA and handed to a writer thread that commits it
while the model works on the next one, so an interrupted run keeps every finished batch and the next run
starts where it stopped. Items without an image are skipped and counted; undecodable images are skipped,
counted and reported.
"""
from __future__ import annotations

import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..errors import MedvizError
from ..store import core
from ..store import embeddings as sql
from . import prep
from .loading import LoadedEncoder, default_batch_size, load_encoder


@dataclass
class EmbedResult:
    benchmark_id: str
    encoder_id: str
    weights_digest: str
    source: str
    device: str
    decode: str = prep.EXACT   # how images were decoded for the vectors (``prep.decode_mode``; part of their key)
    n_items: int = 0           # items in the benchmark
    n_images: int = 0          # distinct image contents present
    n_new: int = 0             # embedded in this run
    n_cached: int = 0          # already in the cache
    n_missing: int = 0         # items whose image is missing (skipped)
    n_failed: int = 0          # images that could not be decoded (skipped)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    images_per_s: float | None = None

    def summary(self) -> str:
        rate = f", {self.images_per_s:.1f} images/s" if self.images_per_s else ""
        return (f"{self.encoder_id} [{self.weights_digest}, {self.decode} decode] on {self.device}: "
                f"{self.n_new} new, {self.n_cached} cached, "
                f"{self.n_missing} items without image, {self.n_failed} failed{rate}")


def open_native(path: str):
    """Decode an image for encoding, keeping grey images single-channel ('L'); see ``prep.open_image``."""
    return prep.open_image(path)[0]


def _decode(enc: LoadedEncoder, path: str, plan: prep.PrepPlan | None = None, out=None, gap: float | None = None):
    """One image for the model: with a ``plan``, uint8 pixels written into ``out`` (a row of the batch
    buffer; ``gap``: JPEG draft gap, see ``prep``); without, ``enc.preprocess``'s output."""
    if plan is not None:
        return prep.prepare_into(plan, path, out, gap)
    im = open_native(path)
    x = enc.preprocess(im)
    if im.mode == "L" and getattr(x, "ndim", 0) == 3 and x.shape[0] == 1 and enc.spec.learned:
        x = enc.preprocess(im.convert("RGB"))        # a preprocess that does not convert grey itself
    return x


def _workers(device: str = "cpu") -> int:
    """Decode threads: on CPU as many as cores (they share them with the model); on a GPU all cores (up to
    32), because a GPU outruns JPEG decoding. ``MEDVIZ_EMBED_WORKERS`` / ``--workers`` override."""
    env = os.environ.get("MEDVIZ_EMBED_WORKERS")
    if env:
        return max(1, int(env))
    n = os.cpu_count() or 2
    return max(2, min(32, n)) if device.startswith("cuda") or device == "mps" else max(2, min(8, n))


def _lower_priority() -> None:
    """On CPU the model and the decoders share cores: let decode threads yield to the model's threads
    (Linux: per-thread nice). Decoding runs batches ahead, so it still keeps up in the model's idle gaps."""
    try:
        import threading
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError, PermissionError):
        pass


def decoding(enc: LoadedEncoder, exact_decode: bool | None = None) -> tuple[prep.PrepPlan | None, float | None, str]:
    """How ``embed_paths`` decodes images for ``enc``: (plan, JPEG draft gap, decode mode). Only the fast path
    (``prep.plan_for``) drafts; an encoder without it (the weight-free pixels encoder) always decodes exactly.
    The mode is stored with every vector, so vectors of a draft and of an exact decode are never mixed."""
    plan = prep.plan_for(enc.preprocess)
    gap = prep.draft_gap(exact_decode) if plan is not None else None
    return plan, gap, prep.decode_mode(gap)


def embed_paths(enc: LoadedEncoder, paths: list[str], *, batch_size: int, workers: int | None = None,
                exact_decode: bool | None = None):
    """Yield (indices, vectors, errors) per batch; decoding runs ``workers`` threads ahead of the model.

    ``errors`` is a list of (index, message) for images that failed to decode (left out of the batch).
    When the encoder's preprocess is open_clip's eval transform (``prep.plan_for``), the threads write uint8
    crops into one (pinned, on CUDA) batch buffer and the float conversion and normalisation run on the
    model's device; large JPEGs decode at a reduced DCT scale unless ``exact_decode`` (default:
    ``MEDVIZ_EXACT_DECODE``). Otherwise each image goes through ``enc.preprocess`` and the batch is stacked.
    """
    pin = enc.device.startswith("cuda")
    plan, gap, _ = decoding(enc, exact_decode)
    batches = [list(range(i, min(i + batch_size, len(paths)))) for i in range(0, len(paths), batch_size)]
    workers = workers or _workers(enc.device)
    lookahead = max(2, 2 * workers // max(1, batch_size) + 2)
    init = (_lower_priority if enc.device == "cpu" and enc.spec.learned
            and os.environ.get("MEDVIZ_DECODE_NICE", "1") != "0" else None)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="medviz-decode", initializer=init)
    try:
        pending: deque = deque()
        nxt = 0

        def submit():
            nonlocal nxt
            if nxt < len(batches):
                idx = batches[nxt]
                if plan is None:
                    buf, futs = None, [pool.submit(_decode, enc, paths[i]) for i in idx]
                else:
                    buf = prep.new_batch(len(idx), plan, pin=pin)
                    futs = [pool.submit(_decode, enc, paths[i], plan, buf[j], gap) for j, i in enumerate(idx)]
                pending.append((idx, buf, futs))
                nxt += 1
        for _ in range(lookahead):
            submit()
        while pending:
            idx, buf, futs = pending.popleft()
            submit()
            ok_idx, ok_rows, tensors, errors = [], [], [], []
            for j, (i, f) in enumerate(zip(idx, futs)):
                try:
                    tensors.append(f.result())
                    ok_idx.append(i)
                    ok_rows.append(j)
                except MedvizError as e:
                    errors.append((i, str(e)))
                except Exception as e:  # noqa: BLE001 - a corrupt image must not stop the run
                    errors.append((i, f"{paths[i]}: cannot decode ({e})"))
            if not ok_idx:
                yield ok_idx, None, errors
                continue
            if plan is None:
                yield ok_idx, enc.encode_batch(enc.stack(tensors, pin=pin)), errors
                continue
            x = buf if len(ok_rows) == len(idx) else buf[ok_rows]      # (failed rows left out)
            yield ok_idx, enc.encode_batch(prep.to_model_input(x, plan, enc.device)), errors
    finally:                                        # interrupted: drop queued decodes instead of finishing them
        pool.shutdown(wait=True, cancel_futures=True)


def compute_embeddings(store, benchmark_id: str, encoder_id: str | None = None, *, device: str | None = None,
                       batch_size: int | None = None, progress=None, workers: int | None = None,
                       exact_decode: bool | None = None) -> EmbedResult:
    """Embed the benchmark's images not yet cached for this encoder + weights. ``progress(done, total)``.
    ``exact_decode``: decode JPEGs at full size (see ``embed_paths``; default ``MEDVIZ_EXACT_DECODE``)."""
    cur = store.cursor()
    if core.benchmark(cur, benchmark_id) is None:
        raise MedvizError(f"benchmark '{benchmark_id}' is not in the store; ingest it first", record=benchmark_id)
    enc = load_encoder(encoder_id, device=device)
    mode = decoding(enc, exact_decode)[2]
    t0 = time.perf_counter()
    todo = sql.embedding_todo(cur, benchmark_id, enc.id, enc.weights_digest, decode=mode)
    has = todo["image_sha256"].notna()
    res = EmbedResult(benchmark_id, enc.id, enc.weights_digest, enc.spec.source, enc.device, mode,
                      n_items=int(todo["n_items"].sum()), n_images=int(has.sum()),
                      n_missing=int(todo.loc[~has, "n_items"].sum()),
                      n_cached=int((has & todo["cached"].fillna(False).astype(bool)).sum()))
    need = todo[has & ~todo["cached"].fillna(False).astype(bool)]
    hashes, paths = need["image_sha256"].tolist(), [store.image_file(p) for p in need["image_path"].tolist()]
    if progress:
        progress(0, len(paths))
    if paths:
        bs = batch_size or default_batch_size(enc.device)
        done = 0
        t_run = time.perf_counter()

        def commit(batch_hashes, vecs):
            with store.transaction() as tx:
                return sql.insert_embeddings(tx, enc.id, enc.weights_digest, batch_hashes, vecs, decode=mode)
        # One writer thread commits each batch while the model works on the next (matters on a GPU, where a
        # batch takes about as long as its insert). Batches commit in order: an interruption keeps them all.
        pending: deque = deque()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="medviz-embed-writer") as writer:
            try:
                for idx, vecs, errors in embed_paths(enc, paths, batch_size=bs, workers=workers,
                                                             exact_decode=exact_decode):
                    res.n_failed += len(errors)
                    res.errors += [m for _, m in errors][: max(0, 10 - len(res.errors))]
                    while pending and pending[0].done():
                        res.n_new += pending.popleft().result()
                    if vecs is not None:
                        pending.append(writer.submit(commit, [hashes[i] for i in idx], vecs))
                    done += len(idx) + len(errors)
                    if progress:
                        progress(done, len(paths))
            finally:
                while pending:                      # wait for (and surface errors of) every queued commit
                    res.n_new += pending.popleft().result()
        elapsed = time.perf_counter() - t_run
        res.images_per_s = res.n_new / elapsed if elapsed > 0 and res.n_new else None
    res.seconds = time.perf_counter() - t0
    if paths or sql.latest_run(cur, benchmark_id, enc.id) is None:
        with store.transaction() as tx:
            sql.record_run(tx, benchmark_id, enc.id, enc.weights_digest, decode=mode, source=enc.spec.source,
                           device=enc.device,
                           n_new=res.n_new, n_cached=res.n_cached, n_missing=res.n_missing, n_failed=res.n_failed,
                           images_per_s=res.images_per_s)
    from .maps import refresh_map              # the Embeddings page's map, drawn now that the vectors changed
    if res.n_new or res.n_cached:
        refresh_map(store, benchmark_id, enc.id)
    return res


def computed_encoders(store, benchmark_id: str) -> list[str]:
    """Encoder ids that have cached embeddings for images of this benchmark."""
    return sql.computed_encoders(store.cursor(), benchmark_id)


def current_key(store, benchmark_id: str, encoder_id: str) -> tuple[str, str] | None:
    """The (weights digest, decode mode) of the vectors to read: the loaded model's digest if loaded, else the
    one with most vectors cached; with the decode mode that has most vectors under it. When the loaded model
    has none cached: its digest in the decode mode it would embed with now."""
    from .loading import loaded_encoder
    enc = loaded_encoder(encoder_id)
    key = sql.best_key(store.cursor(), benchmark_id, encoder_id, enc.weights_digest if enc is not None else None)
    if key is None and enc is not None:
        return enc.weights_digest, decoding(enc)[2]
    return key


def vectors(store, benchmark_id: str, encoder_id: str):
    """(frame of items with a vector, (n, d) matrix, (digest, decode mode)) or raise when nothing is cached."""
    key = current_key(store, benchmark_id, encoder_id)
    if key is None:
        raise MedvizError(f"no embeddings of benchmark '{benchmark_id}' for encoder '{encoder_id}'; "
                          f"run: medviz embed {benchmark_id} --encoder {encoder_id}", field="encoder")
    meta, vecs = sql.benchmark_embeddings(store.cursor(), benchmark_id, encoder_id, key[0], decode=key[1])
    if len(meta) == 0:
        raise MedvizError(f"no embeddings of benchmark '{benchmark_id}' for encoder '{encoder_id}' "
                          f"with weights {key[0]} ({key[1]} decode); run: medviz embed {benchmark_id} "
                          f"--encoder {encoder_id}", field="encoder")
    return meta, vecs, key
