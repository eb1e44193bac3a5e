"""Benchmark and prediction files -> the store, each load in one transaction.

``ingest_benchmark`` detects the format (MediConfusion dataset.json, GMAI-MMBench TSV, generic CSV/JSONL),
streams it into the store and, for GMAI, writes images beside the database through a staging folder that
is only moved into place after the commit. ``import_predictions`` reads a model's output, derives the
letter under the benchmark's official rules and replaces that model's previous run atomically.
"""
from __future__ import annotations

import itertools
import os
import re
import shutil
import uuid

import pandas as pd
import pyarrow as pa

from . import answers, registry
from .errors import MedvizError
from .store import core
from .store.db import Store

BATCH = 2000


def default_benchmark_id(path: str, kind: str) -> str:
    fixed = registry.get_kind(kind).fixed_id
    if fixed:
        return fixed
    stem = os.path.splitext(os.path.basename(path))[0]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)


def ingest_benchmark(store: Store, path: str, *, kind: str | None = None, benchmark_id: str | None = None,
                     images_dir: str | None = None, synthetic: bool = False, note: str | None = None,
                     progress=None) -> dict:
    """Load a benchmark (replacing one with the same id). Returns counts; raises MedvizError on bad input."""
    if not os.path.exists(path):
        raise MedvizError("file not found", file=path)
    kind = kind or registry.detect_kind(path)
    spec = registry.get_kind(kind)
    benchmark_id = benchmark_id or default_benchmark_id(path, kind)
    if images_dir is not None and not os.path.isdir(images_dir):
        raise MedvizError("images folder does not exist", file=images_dir)
    staging = final_dir = None
    if spec.writes_images:
        final_dir = os.path.join(store.files_dir, "images", benchmark_id)
        staging = os.path.join(store.files_dir, "images", f".staging-{uuid.uuid4().hex}")
        os.makedirs(staging)
    try:
        with store.transaction() as tx:
            core.delete_benchmark(tx, benchmark_id)
            core.insert_benchmark(tx, benchmark_id, kind, os.path.abspath(path),
                                  os.path.abspath(images_dir) if images_dir else final_dir, synthetic, note)
            if spec.writes_images:
                stream = spec.load(path, staging, progress=progress)
                while True:
                    batch = list(itertools.islice(stream, BATCH))
                    if not batch:
                        break
                    for it in batch:       # paths are written as they will be after the move
                        if it.image_path and it.image_path.startswith(staging):
                            it.image_path = final_dir + it.image_path[len(staging):]
                    core.append_items(tx, core.items_to_arrow(benchmark_id, batch))
                dups = core.duplicate_item_ids(tx, benchmark_id)
                if dups:
                    raise MedvizError(f"duplicate index values, e.g. {dups[0]}", file=path, field="index")
            else:
                items, pairs = spec.load(path, images_dir)
                for start in range(0, len(items), BATCH):
                    core.append_items(tx, core.items_to_arrow(benchmark_id, items[start:start + BATCH]))
                if pairs:
                    core.append_pairs(tx, core.pairs_to_arrow(benchmark_id, pairs))
            n_items, n_pairs = core.finish_benchmark(tx, benchmark_id)
            if n_items == 0:
                raise MedvizError("contains no items", file=path)
            if staging is not None:
                # Last step inside the transaction: if the move fails, the rows roll back too.
                old = None
                if os.path.exists(final_dir):
                    old = final_dir + f".old-{uuid.uuid4().hex}"
                    os.rename(final_dir, old)
                os.rename(staging, final_dir)
                staging = None
                if old:
                    shutil.rmtree(old, ignore_errors=True)
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    missing = store.cursor().execute(
        "SELECT count(*) FROM items WHERE benchmark_id = ? AND image_status <> 'ok'", [benchmark_id]).fetchone()[0]
    return {"benchmark_id": benchmark_id, "kind": kind, "items": n_items, "pairs": n_pairs,
            "images_missing": missing}


# --- predictions ----------------------------------------------------------------------------------------

def read_predictions(path: str, kind: str, *, fmt: str | None = None, model: str | None = None,
                     result_path: str | None = None) -> tuple[pd.DataFrame, str | None]:
    if not os.path.exists(path):
        raise MedvizError("file not found", file=path)
    fmt = fmt or registry.detect_prediction_format(path, kind)
    return registry.get_prediction_format(fmt).read(path, model, result_path)


def import_predictions(store: Store, benchmark_id: str, path: str, *, fmt: str | None = None,
                       model: str | None = None, result_path: str | None = None, synthetic: bool = False,
                       note: str | None = None, tr: float | None = None) -> dict:
    """Import a prediction file; each model in it replaces its earlier run. Returns {model: n}.

    ``tr``: MediConfusion's judge threshold (official ``--tr``, None = the default 3), stored with the run;
    a MedvizError for benchmarks whose answers carry no judge scores.
    """
    cur = store.cursor()
    bench = core.benchmark(cur, benchmark_id)
    if bench is None:
        raise MedvizError(f"benchmark '{benchmark_id}' is not in the store; ingest it first", file=path)
    kind = bench["kind"]
    df, mode = read_predictions(path, kind, fmt=fmt, model=model, result_path=result_path)
    idx = core.item_index(cur, benchmark_id).set_index("item_id")
    unknown = ~df["item_id"].isin(idx.index)
    if unknown.any():
        bad = df.loc[unknown, "item_id"].iloc[0]
        raise MedvizError(f"prediction for unknown item id '{bad}' ({int(unknown.sum())} such rows); "
                          f"is this file for benchmark '{benchmark_id}'?", file=path, record=f"item {bad}",
                          field="item_id")
    parser = registry.get_kind(kind).parser
    if parser == "mediconfusion":
        tr = answers.judge_threshold(answers.MEDICONFUSION_TR if tr is None else tr)
    elif tr is not None:
        raise MedvizError(f"--tr applies to MediConfusion judge scores, not to benchmark '{benchmark_id}' ({kind})",
                          file=path, field="--tr")
    df = df.assign(parsed=answers.parse_letters(parser, df, idx["options"], tr=tr or answers.MEDICONFUSION_TR))
    df["correct"] = None           # derived by the store from the one rule (scoring.RULES)
    df["benchmark_id"] = benchmark_id
    counts = {}
    with store.transaction() as tx:
        for m, part in df.groupby("model", sort=True):
            table = pa.Table.from_pandas(part[core.PREDICTION_SCHEMA.names].reset_index(drop=True),
                                         schema=core.PREDICTION_SCHEMA, preserve_index=False)
            counts[m] = core.replace_predictions(tx, benchmark_id, m, table, source=os.path.abspath(path),
                                                 mode=mode, synthetic=synthetic, note=note, tr=tr)
    return counts
