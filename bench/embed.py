"""Embedding throughput: end-to-end (decode -> preprocess -> forward -> cache) vs. forward-only, and the cost
of re-checking 10,000 already-cached images.

Data (generated, labelled synthetic): N images on disk in a realistic mix — JPEG 1024x1024 RGB, PNG 768x768
grey, 16-bit DICOM CT slices 512x512 — ingested as a generic benchmark. Model: BiomedCLIP's image tower
(timm ``vit_base_patch16_224`` + linear projection to 512, exactly as BiomedCLIP's open_clip config builds
it) at RANDOM init — no weights exist offline; throughput does not depend on weight values.

Measured in one process, same batch size:
- forward-only images/s on pre-made tensors (the model's ceiling), measured before and after the
  end-to-end run and averaged;
- end-to-end images/s of ``compute_embeddings`` on the benchmark (threads decode ahead of the model);
- re-check of 10,000 cached images: ``compute_embeddings`` on a benchmark whose 10k images are all cached.
Forward-only and end-to-end run in interleaved rounds (alternating order) so load drift hits both.
Usage: python bench/embed.py [--images 96] [--rounds 12] [--batch-size 8] [--workers N] [--exact-decode]
       [--draft-gap G]  (JPEG decoding: see medviz/encoders/prep.py)
On a GPU: python bench/embed.py --images 2048 --rounds 8 --batch-size 256 (it picks CUDA itself).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from medviz import encoders as E  # noqa: E402
from medviz.ingest import ingest_benchmark  # noqa: E402
from medviz.item import Item  # noqa: E402
from medviz.store import Store, core  # noqa: E402
from medviz.store import embeddings as sql  # noqa: E402

MEAN = (0.48145466, 0.4578275, 0.40821073)     # BiomedCLIP preprocess_cfg (OpenAI CLIP statistics)
STD = (0.26862954, 0.26130258, 0.27577711)


def biomedclip_image_tower():
    """BiomedCLIP's vision tower (timm ViT-B/16, linear proj to 512) at random init, with encode_image."""
    import torch
    from open_clip.model import _build_vision_tower
    from open_clip.transform import image_transform

    class ImageTower(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.visual = _build_vision_tower(512, {"timm_model_name": "vit_base_patch16_224",
                                                    "timm_model_pretrained": False, "timm_pool": "",
                                                    "timm_proj": "linear", "image_size": 224})

        def encode_image(self, x):
            return self.visual(x)
    torch.manual_seed(0)
    return ImageTower(), image_transform(224, is_train=False, mean=MEAN, std=STD)


def write_image(folder: str, i: int, seed: int = 0) -> str:
    """Synthetic 'scan' number i: smooth blobs + noise; by i % 3 a JPEG 1024^2 RGB, PNG 768^2 grey or DICOM 512^2."""
    import pydicom  # noqa: F401
    from PIL import Image
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid
    rng = np.random.default_rng([seed, i])
    kind = ("jpg", "png", "dcm")[i % 3]
    size = {"jpg": 1024, "png": 768, "dcm": 512}[kind]
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.zeros((size, size), np.float32)
    for _ in range(4):
        cx, cy, r = rng.random(3)
        img += np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (0.02 + 0.1 * r))
    img = img / img.max() + 0.15 * rng.standard_normal((size, size)).astype(np.float32)
    name = f"scan{i:04d}.{kind}"
    path = os.path.join(folder, name)
    if kind == "jpg":
        u8 = (np.clip(img, 0, 1) * 255).astype(np.uint8)
        Image.fromarray(np.stack([u8, u8, (u8 * 0.9).astype(np.uint8)], -1)).save(path, quality=90)
    elif kind == "png":
        Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(path)
    else:
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(path, {}, file_meta=meta, preamble=b"\0" * 128)
        ds.Modality, ds.Rows, ds.Columns = "CT", size, size
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.PixelData = (np.clip(img, 0, 1) * 2000).astype(np.uint16).tobytes()
        ds.save_as(path, enforce_file_format=True)
    return name


def write_images(folder: str, n: int, seed: int = 0) -> list[str]:
    """n synthetic 'scans', one third each JPEG, PNG, DICOM; written by one process per core."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial
    os.makedirs(folder, exist_ok=True)
    procs = min(os.cpu_count() or 1, max(1, n // 8))
    if procs == 1:
        return [write_image(folder, i, seed) for i in range(n)]
    with ProcessPoolExecutor(procs, mp_context=mp.get_context("fork")) as pool:
        return list(pool.map(partial(write_image, folder, seed=seed), range(n), chunksize=8))


def forward_only(enc, tensors, batch_size: int) -> float:
    t = time.perf_counter()
    for i in range(0, len(tensors), batch_size):
        enc.encode_batch(tensors[i:i + batch_size])
    return len(tensors) / (time.perf_counter() - t)


def cache_recheck(store, enc, folder: str, rel0: str, n: int = 10_000) -> float:
    """A 10k-item benchmark whose images are all cached (synthetic hashes; vectors are placeholders)."""
    items = [Item(item_id=f"c{i:05d}", question="q", options={"A": "a", "B": "b"}, answer="A",
                  image_path=os.path.join(folder, rel0), image_status="ok", image_sha256=f"{i:064x}")
             for i in range(n)]
    with store.transaction() as tx:
        core.insert_benchmark(tx, "bench-cached10k", "generic", "bench/embed.py (synthetic)", folder, synthetic=True)
        core.append_items(tx, core.items_to_arrow("bench-cached10k", items))
        core.finish_benchmark(tx, "bench-cached10k")
        sql.insert_embeddings(tx, enc.id, enc.weights_digest, [it.image_sha256 for it in items],
                              np.zeros((n, 512), np.float32), decode=E.embed.decoding(enc)[2])
    t = time.perf_counter()
    r = E.compute_embeddings(store, "bench-cached10k", enc.id)
    dt = time.perf_counter() - t
    assert r.n_cached == n and r.n_new == 0, r
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=96)
    ap.add_argument("--rounds", type=int, default=12, help="interleaved forward-only / end-to-end rounds")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--workers", type=int, default=None, help="decode threads (default: medviz's choice)")
    ap.add_argument("--exact-decode", action="store_true", help="decode JPEGs at full size (no DCT draft)")
    ap.add_argument("--draft-gap", type=float, default=None, help="JPEG draft gap (medviz default 2; 1 = hardest)")
    args = ap.parse_args()
    if args.draft_gap is not None:
        os.environ["MEDVIZ_DRAFT_GAP"] = str(args.draft_gap)
    import torch
    tmp = tempfile.mkdtemp(prefix="medviz-bench-embed-")
    folder = os.path.join(tmp, "images")
    t = time.perf_counter()
    rel = write_images(folder, args.images)
    store = Store(os.path.join(tmp, "bench.duckdb"))
    chunks = np.array_split(np.arange(len(rel)), args.rounds)
    for r, idx in enumerate(chunks):
        csv = os.path.join(folder, f"bench{r}.csv")
        pd.DataFrame({"item_id": [f"i{i}" for i in idx], "image_path": [rel[i] for i in idx], "question": "q",
                      "A": "a", "B": "b", "answer": "A"}).to_csv(csv, index=False)
        ingest_benchmark(store, csv, kind="generic", benchmark_id=f"bench-embed-{r}", note="synthetic bench images")
    print(f"setup: {args.images} synthetic images (JPEG 1024^2 / PNG 768^2 / DICOM 512^2) in "
          f"{time.perf_counter() - t:.1f} s; torch threads {torch.get_num_threads()}, cpu count {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}")

    model, preprocess = biomedclip_image_tower()
    enc = E.register_model("bench-biomedclip-image-tower-random", model, preprocess, None,
                           source="timm vit_base_patch16_224 + linear proj (BiomedCLIP image tower), random init")
    from medviz.image_load import load_image
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        tensors = torch.stack(list(pool.map(lambda r: preprocess(load_image(os.path.join(folder, r))), rel)))
    forward_only(enc, tensors[: args.batch_size], args.batch_size)          # warm-up
    # Interleave the two measurements (alternating which goes first) so that drift in machine load hits both.
    rows, fwd_t, e2e_t, n_tot, fwd_c, e2e_c = [], 0.0, 0.0, 0, 0.0, 0.0
    for r, idx in enumerate(chunks):
        steps = ["fwd", "e2e"] if r % 2 == 0 else ["e2e", "fwd"]
        for step in steps:
            t, c = time.perf_counter(), time.process_time()
            if step == "fwd":
                forward_only(enc, tensors[idx], args.batch_size)
                f, fc = time.perf_counter() - t, time.process_time() - c
            else:
                res = E.compute_embeddings(store, f"bench-embed-{r}", enc.id, batch_size=args.batch_size,
                                           workers=args.workers, exact_decode=args.exact_decode)
                e, ec = time.perf_counter() - t, time.process_time() - c
                assert res.n_new == len(idx), res
        fwd_t, e2e_t, n_tot = fwd_t + f, e2e_t + e, n_tot + len(idx)
        fwd_c, e2e_c = fwd_c + fc, e2e_c + ec
        rows.append((r, len(idx), len(idx) / f, len(idx) / e))
    fwd, e2e = n_tot / fwd_t, n_tot / e2e_t
    recheck = cache_recheck(store, enc, folder, rel[0])
    ratio = e2e / fwd
    print(f"\n{'round':<7}{'images':>7}{'forward-only img/s':>20}{'end-to-end img/s':>18}{'ratio':>8}")
    for r, n, f, e in rows:
        print(f"{r:<7}{n:>7}{f:>20.2f}{e:>18.2f}{e / f:>8.3f}")
    print(f"{'all':<7}{n_tot:>7}{fwd:>20.2f}{e2e:>18.2f}{ratio:>8.3f}")
    print(f"{'cpu-s':<7}{n_tot:>7}{n_tot / fwd_c:>20.2f}{n_tot / e2e_c:>18.2f}{fwd_c / e2e_c:>8.3f}"
          "   (images per CPU-second, all threads: insensitive to other processes' load)")
    print(f"median of the per-round ratios: {np.median([e / f for _, _, f, e in rows]):.3f}")
    print(f"machine load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    from medviz.encoders import prep
    gap = prep.draft_gap(args.exact_decode)
    print(f"decode: {'exact (full-size JPEG decode)' if gap is None else f'JPEG draft gap {gap:g}'}; "
          f"uint8 batches normalised on the device: {prep.plan_for(preprocess) is not None}")
    print(f"\ndevice {enc.device}, batch {args.batch_size}; end-to-end = compute_embeddings (decode threads -> "
          f"preprocess -> forward -> DuckDB cache); cache re-check of 10,000 cached images: {recheck:.3f} s")
    print(f"RESULT embed_over_forward {ratio:.3f} ratio (budget >= 0.9)")
    print(f"RESULT cache_recheck_10k {recheck:.3f} s (budget < 2)")
    store.close()
    import shutil
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
