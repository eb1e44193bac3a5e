"""Deterministic scale data written as the files real users have — read back only by the normal importers.

    python bench/make_scale.py [--out bench/out/scale] [--items 100000] [--models 10]
                               [--annotations 200000] [--reviewers 20] [--tsv-gb 1.0] [--only tsv|bench|...]

Writes (all SYNTHETIC, generated; labelled so in file names and in the benchmark/model names):
- ``benchmark.csv``: a generic benchmark of N items, half of them in pairs (pair_id, slot), 2-5 options,
  modality/category/department/task, each pointing at one of a few small generated PNGs in ``images/``;
- ``predictions.csv``: M models x N items in the generic prediction format with a realistic mix of free text
  (bare letters, "The answer is X.", option text, refusals, rambling);
- ``annotations.csv``: K annotations from R reviewers in the export format ``medviz import annotations`` reads;
- ``GMAI-MMBench_SCALE_<size>.tsv``: a VLMEvalKit-style TSV of about the requested size whose ``image`` column
  holds base64 PNGs of realistic size (~1-2 MB each, like GMAI-MMBench VAL: 9.3 GB / 4,550 rows).
"""
from __future__ import annotations

import argparse
import base64
import csv
import io
import json
import os
import random
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

MODALITIES = ["CT", "MR", "X-ray", "Ultrasound", "Fundus photography", "Endoscopy", "Dermoscopy", "Histopathology"]
DEPARTMENTS = ["Radiology", "Neurosurgery", "Ophthalmology", "Urology", "Oncology", "Cardiology"]
TASKS = ["Disease Diagnosis", "Organ Recognition - Abdomen", "Attribute Recognition", "Counting", "Severity Grading"]
CATEGORIES = ["Cerebral", "Vascular", "Head and Neck", "Cardiac", "Spinal", "Gastrointestinal", "Pulmonary"]
VOCAB = ["lung", "liver", "heart", "kidney", "spleen", "brain", "bone", "pancreas", "aorta", "colon", "normal",
         "abnormal", "left", "right", "nodule", "effusion", "fracture", "stenosis"]


def answer_text(rng: random.Random, letters: str, opts: list[str]) -> str:
    k = rng.random()
    L = rng.choice(letters)
    if k < 0.4:
        return L
    if k < 0.55:
        return f"{L}."
    if k < 0.67:
        return f"The answer is {L}."
    if k < 0.77:
        return rng.choice(opts)
    if k < 0.8:
        return "Cannot determine the answer"
    if k < 0.88:
        return f"({L}) {rng.choice(opts)}"
    return " ".join(rng.choice(VOCAB + list(letters)) for _ in range(rng.randint(3, 24)))


def write_benchmark(out: str, n_items: int, n_models: int, seed: int = 0) -> dict:
    rng = random.Random(seed)
    img_dir = os.path.join(out, "images")
    os.makedirs(img_dir, exist_ok=True)
    for k in range(8):
        arr = (np.random.default_rng(k).random((96, 96)) * 255).astype(np.uint8)
        Image.fromarray(arr).save(os.path.join(img_dir, f"img{k}.png"))
    bench = os.path.join(out, "benchmark.csv")
    rows_meta = []
    with open(bench, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["item_id", "image_path", "pair_id", "slot", "question", "A", "B", "C", "D", "E", "answer",
                    "modality", "category", "department", "task"])
        n_pair_items = (n_items // 2) // 2 * 2
        for i in range(n_items):
            if i < n_pair_items:
                pid, slot = f"p{i // 2:07d}", i % 2 + 1
                if slot == 1:
                    k = 2
                    opts = rng.sample(VOCAB, 2)
                    first = rng.choice("AB")
                    pair_ctx = (opts, first, rng.choice(MODALITIES), rng.choice(CATEGORIES))
                opts, first, mod, cat = pair_ctx
                ans = first if slot == 1 else ("B" if first == "A" else "A")
            else:
                pid, slot = "", ""
                k = rng.randint(2, 5)
                opts = rng.sample(VOCAB, k)
                ans = rng.choice("ABCDE"[:k])
                mod, cat = rng.choice(MODALITIES), rng.choice(CATEGORIES)
            opts_row = opts + [""] * (5 - len(opts))
            w.writerow([f"i{i:07d}", f"images/img{i % 8}.png", pid, slot, f"Synthetic scale question {i}?",
                        *opts_row, ans, mod, cat, rng.choice(DEPARTMENTS), rng.choice(TASKS)])
            rows_meta.append(("ABCDE"[:len(opts)], opts))
    preds = os.path.join(out, "predictions.csv")
    with open(preds, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["item_id", "model", "prediction"])
        for m in range(n_models):
            mr = random.Random(seed * 1000 + m)
            name = f"synthetic-scale-model-{m:02d}"
            for i, (letters, opts) in enumerate(rows_meta):
                w.writerow([f"i{i:07d}", name, answer_text(mr, letters, opts)])
    return {"benchmark": bench, "predictions": preds, "items": n_items, "models": n_models}


def write_annotations(out: str, bench_info: dict, n_ann: int, n_reviewers: int, seed: int = 0) -> str:
    """K annotations in the export format that ``medviz import annotations`` reads.

    Targets are drawn from a pool of items so that most are tagged by several reviewers (agreement has
    something to measure); reviewers agree with a per-target 'true' tag 70% of the time.
    """
    from medviz.annotations import load_taxonomy
    from medviz.export import ANNOTATION_COLUMNS
    tax = load_taxonomy()
    tags = [p for p in tax.paths() if "/" in p] or tax.paths()
    rng = random.Random(seed)
    n_targets = max(1, n_ann // 5)
    truth = [rng.choice(tags) for _ in range(n_targets)]
    path = os.path.join(out, "annotations.csv")
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=ANNOTATION_COLUMNS)
        w.writeheader()
        for k in range(n_ann):
            t = rng.randrange(n_targets)
            item = t * max(1, bench_info["items"] // n_targets)
            tag = truth[t] if rng.random() < 0.7 else rng.choice(tags)
            ts = f"2026-{1 + k % 12:02d}-{1 + k % 28:02d}T{k % 24:02d}:{k % 60:02d}:00.000000"
            w.writerow({"benchmark_id": "synthetic-scale", "target_type": "item", "target_id": f"i{item:07d}",
                        "model": f"synthetic-scale-model-{rng.randrange(bench_info['models']):02d}", "tag": tag,
                        "taxonomy_version": tax.version, "reviewer": f"synthetic-reviewer-{rng.randrange(n_reviewers):02d}",
                        "confidence": rng.randint(1, 5), "rationale": "synthetic scale annotation",
                        "proposed_answer": "", "kind": "annotation", "settles": "",
                        "annotation_id": f"scale-{k:07d}", "revision": 1, "created_at_utc": ts,
                        "updated_at_utc": ts})
    return path


def _png_pool(n: int, side: int, seed: int = 0) -> list[str]:
    """Base64 PNGs of realistic size: smooth anatomy-like gradients plus noise (compresses like real scans)."""
    rng = np.random.default_rng(seed)
    pool = []
    yy, xx = np.mgrid[0:side, 0:side] / side
    for k in range(n):
        base = 128 + 90 * np.sin(6 * xx + k) * np.cos(5 * yy - k)
        arr = np.clip(base + rng.normal(0, 18, (side, side)), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(np.stack([arr] * 3, -1)).save(buf, format="PNG", compress_level=1)
        pool.append(base64.b64encode(buf.getvalue()).decode("ascii"))
    return pool


def write_tsv(out: str, gigabytes: float, seed: int = 0) -> str:
    target = int(gigabytes * (1 << 30))
    path = os.path.join(out, f"GMAI-MMBench_SCALE_{gigabytes:g}GB.tsv")
    if os.path.exists(path) and abs(os.path.getsize(path) - target) < target * 0.05:
        return path
    rng = random.Random(seed)
    pool = _png_pool(16, 768, seed)
    cols = ["index", "question", "A", "B", "C", "D", "E", "answer", "category", "modality", "clinical VQA task",
            "department", "perceptual granularity", "image"]
    written = 0
    i = 0
    with open(path, "w", encoding="utf-8", newline="") as f:
        written += f.write("\t".join(cols) + "\n")
        while written < target:
            k = rng.randint(2, 5)
            opts = rng.sample(VOCAB, k) + ["None"] * (5 - k)
            task = rng.choice(TASKS)
            row = [str(i), f"Synthetic question {i}: what is shown?", *opts, rng.choice("ABCDE"[:k]),
                   task.split(" - ")[0], rng.choice(MODALITIES), task, rng.choice(DEPARTMENTS),
                   rng.choice(["image level", "box level", "mask level", "contour level"]), pool[i % len(pool)]]
            written += f.write("\t".join(row) + "\n")
            i += 1
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "out", "scale"))
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--models", type=int, default=10)
    ap.add_argument("--annotations", type=int, default=200_000)
    ap.add_argument("--reviewers", type=int, default=20)
    ap.add_argument("--tsv-gb", type=float, default=1.0)
    ap.add_argument("--only", choices=["tsv", "bench"], default=None)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    info = {}
    if args.only in (None, "bench"):
        info = write_benchmark(args.out, args.items, args.models)
        info["annotations"] = write_annotations(args.out, info, args.annotations, args.reviewers)
    if args.only in (None, "tsv"):
        info["tsv"] = write_tsv(args.out, args.tsv_gb)
    print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
