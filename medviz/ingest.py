"""Benchmark and prediction files -> the store, each load in one transaction.

``ingest_benchmark`` detects the format (MediConfusion dataset.json, GMAI-MMBench TSV, generic CSV/JSONL),
streams it into the store and, for GMAI, writes images beside the database content-addressed
(``store.imagefiles``), so the row COMMIT is the only switch; every image gets a status and reason. ``import_predictions`` reads a model's output, derives the
letter under the benchmark's official rules and replaces that model's previous run atomically.
"""
from __future__ import annotations

import itertools
import os
import re

import pandas as pd
import pyarrow as pa

from . import answers, images, limits, registry
from .errors import MedvizError
from .store import core, imagefiles
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
    """Load a benchmark (replacing one with the same id). Returns counts and the image summary; raises
    MedvizError on bad input (a bad image does not: it gets status ``unreadable`` with the reason).

    GMAI images are stored content-addressed beside the database (``store.imagefiles``): the row COMMIT
    is the only switch, so a crash at any step leaves the old benchmark showing its old images."""
    if not os.path.exists(path):
        raise MedvizError("file not found", file=path)
    kind = kind or registry.detect_kind(path)
    spec = registry.get_kind(kind)
    benchmark_id = benchmark_id or default_benchmark_id(path, kind)
    if images_dir is not None and not os.path.isdir(images_dir):
        raise MedvizError("images folder does not exist", file=images_dir)
    sink = imagefiles.ImageSink(store.files_dir) if spec.writes_images else None
    try:
        with store.transaction() as tx:
            if sink is not None:
                sink.will_replace(core.benchmark_image_paths(tx, benchmark_id))
            core.delete_benchmark(tx, benchmark_id)
            core.insert_benchmark(tx, benchmark_id, kind, os.path.abspath(path),
                                  os.path.abspath(images_dir) if images_dir else None, synthetic, note)
            if spec.writes_images:
                stream = spec.load(path, sink, progress=progress)
                while True:
                    batch = list(itertools.islice(stream, BATCH))
                    if not batch:
                        break
                    core.append_items(tx, core.items_to_arrow(benchmark_id, batch))
                dups = core.duplicate_item_ids(tx, benchmark_id)
                if dups:
                    raise MedvizError(f"duplicate index values, e.g. {limits.quote(dups[0])}", file=path,
                                      field="index")
            else:
                items, pairs = spec.load(path, images_dir)
                _release_arrow_memory()    # the loader's intermediates, before DuckDB takes its share
                if isinstance(items, pa.Table):  # columns (generic): one Arrow table, no object per item
                    core.append_items(tx, core.item_table_to_arrow(benchmark_id, items))
                else:
                    for start in range(0, len(items), BATCH):
                        core.append_items(tx, core.items_to_arrow(benchmark_id, items[start:start + BATCH]))
                if pairs:
                    core.append_pairs(tx, core.pairs_to_arrow(benchmark_id, pairs))
                items = pairs = None       # in the store now: free them before the rest of the load
            n_items, n_pairs = core.finish_benchmark(tx, benchmark_id)
            if n_items == 0:
                raise MedvizError("contains no items", file=path)
            if sink is not None:
                sink.publish()             # last step before COMMIT; the old files stay where they are
    finally:
        if sink is not None:
            sink.finish(store.cursor())    # committed or not: drop the files no row references
    _release_arrow_memory()
    summary = image_summary(store, benchmark_id, kind)
    return {"benchmark_id": benchmark_id, "kind": kind, "items": n_items, "pairs": n_pairs,
            "images_missing": summary["counts"].get("missing", 0), "images": summary}


def _release_arrow_memory() -> None:
    """Give the memory Arrow's allocator keeps after a load back to the system: its pool holds on to freed
    blocks, which after a 100k-item load was ~85 MB of resident memory that nothing would use again."""
    pa.default_memory_pool().release_unused()


IMAGE_FIELD = {"mediconfusion": "im_{slot}_local", "gmai": "image", "generic": "image_path"}


def user_record(kind: str, item_id: str, pair_id=None, slot=None) -> str:
    """An item named as its benchmark file names it (a MediConfusion pair id and image, a GMAI index)."""
    if kind == "mediconfusion" and pair_id is not None and slot is not None:
        return f"pair {pair_id}, image {int(slot)}"
    if kind == "gmai":
        return f"index {item_id}"
    return f"item {item_id}"


def image_summary(store: Store, benchmark_id: str, kind: str, examples: int = 5) -> dict:
    """Counts per image status, the first few problems with reasons, and a warning per escaping path."""
    cur = store.cursor()
    counts = core.image_status_counts(cur, benchmark_id)
    field = IMAGE_FIELD.get(kind, "image_path")
    problems = [{"record": user_record(kind, r["item_id"], r["pair_id"], r["slot"]), "status": r["image_status"],
                 "reason": r["image_reason"], "field": field.format(slot=r["slot"])}
                for r in core.image_problems(cur, benchmark_id, limit=examples)]
    escapes = [{"record": user_record(kind, r["item_id"], r["pair_id"], r["slot"]),
                "field": field.format(slot=r["slot"]), "reason": r["image_reason"]}
               for r in core.image_problems(cur, benchmark_id, limit=examples, reason_prefix=images.ESCAPES)]
    return {"counts": counts, "problems": problems, "escapes": escapes}


def image_summary_lines(summary: dict, file: str | None = None) -> list[str]:
    """What the CLI prints after a load: counts per status, first problems, warnings for escaping paths."""
    counts = summary["counts"]
    order = ["ok", "missing", "unreadable"]
    text = ", ".join(f"{counts[k]} {k}" for k in order + sorted(set(counts) - set(order)) if counts.get(k))
    lines = [f"images: {text or 'none'}"]
    for p in summary["problems"]:
        lines.append(f"  {p['record']}: {p['status']} ({p['reason']})")
    bad = sum(v for k, v in counts.items() if k != "ok")
    if bad > len(summary["problems"]):
        lines.append(f"  ... and {bad - len(summary['problems'])} more (Errors page, filter 'image problems')")
    where = f"file {file}, " if file else ""
    for e in summary["escapes"]:
        lines.append(f"warning: {where}record {e['record']}, field '{e['field']}': {e['reason']}; not read")
    return lines


# --- predictions ----------------------------------------------------------------------------------------

def read_predictions(path: str, kind: str, *, fmt: str | None = None, model: str | None = None,
                     result_path: str | None = None) -> tuple[pd.DataFrame, str | None]:
    if not os.path.exists(path):
        raise MedvizError("file not found", file=path)
    for f in (path, result_path):
        if f:
            limits.check_file_size(f, what="prediction file")
    fmt = fmt or registry.detect_prediction_format(path, kind)
    return registry.get_prediction_format(fmt).read(path, model, result_path)


def prediction_record(fmt: str, item_id: str) -> tuple[str, str | None, str]:
    """(record, field, what) naming a prediction row as its file does: a MediConfusion results file is keyed
    by pair id (items are ``<pair>-1``/``-2`` only inside medviz), VLMEvalKit by ``index``."""
    if fmt == "mediconfusion":
        pair = str(item_id).rsplit("-", 1)[0]
        return f"pair {pair}", None, "pair"
    if fmt == "vlmevalkit":
        return f"index {item_id}", "index", "index"
    return f"item {item_id}", "item_id", "item_id"


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
    fmt = fmt or registry.detect_prediction_format(path, kind)
    df, mode = read_predictions(path, kind, fmt=fmt, model=model, result_path=result_path)
    ids = pa.array(df["item_id"], pa.string())
    bad, n_bad = core.unknown_items(cur, benchmark_id, ids)
    if n_bad:
        record, field, what = prediction_record(fmt, bad)
        raise MedvizError(f"prediction for {what} {limits.quote(bad if fmt != 'mediconfusion' else record[5:])}, "
                          f"which is not in benchmark '{benchmark_id}' ({n_bad} such rows); "
                          "is this file for that benchmark?", file=path, record=record, field=field)
    parser = registry.get_kind(kind).parser
    if parser == "mediconfusion":
        tr = answers.judge_threshold(answers.MEDICONFUSION_TR if tr is None else tr)
    elif tr is not None:
        raise MedvizError(f"--tr applies to MediConfusion judge scores, not to benchmark '{benchmark_id}' ({kind})",
                          file=path, field="--tr")
    else:   # the benchmark's options where the file carries none, looked up in the store (a category per set)
        own = df["options"]
        theirs = pd.Series(core.item_options(cur, benchmark_id, ids).to_pandas().astype(object).to_numpy(),
                           index=df.index)
        df["options"] = own.where(own.notna(), theirs)
    del ids
    df = df.assign(parsed=answers.parse_letters(parser, df, None, tr=tr or answers.MEDICONFUSION_TR))
    df["correct"] = None           # derived by the store from the one rule (scoring.RULES)
    df["benchmark_id"] = benchmark_id
    tables = {m: pa.Table.from_pandas(part[core.PREDICTION_SCHEMA.names].reset_index(drop=True),
                                      schema=core.PREDICTION_SCHEMA, preserve_index=False)
              for m, part in df.groupby("model", sort=True)}
    del df                         # the frames are copied into the tables: free them before the store's work
    _release_arrow_memory()
    counts = {}
    with store.transaction() as tx:
        for m, table in tables.items():
            counts[m] = core.replace_predictions(tx, benchmark_id, m, table, source=os.path.abspath(path),
                                                 mode=mode, synthetic=synthetic, note=note, tr=tr)
    del tables
    _release_arrow_memory()
    return counts
