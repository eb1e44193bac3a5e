"""Score files directly (no store): what ``medviz score`` runs, and the store-backed equivalents.

File scoring follows the official tools' denominators: MediConfusion scores every pair of the dataset
(a pair with no answer in the Results file counts as invalid); VLMEvalKit scores the rows of the
prediction file that have a ground-truth answer.
"""
from __future__ import annotations

import json

import pandas as pd

from . import answers, registry, scoring
from .benchmarks import gmai as gmai_bench
from .benchmarks import mediconfusion as mc_bench
from .errors import MedvizError
from .predictions import mediconfusion as mc_pred
from .predictions import vlmevalkit as vlm_pred
from .store import core


def mediconfusion_slots(dataset_path: str) -> pd.DataFrame:
    items, _ = mc_bench.load(dataset_path, None)
    return pd.DataFrame({"item_id": [i.item_id for i in items], "pair_id": [i.pair_id for i in items],
                         "slot": [i.slot for i in items], "answer": [i.answer for i in items],
                         "categories": [i.categories for i in items]})


def score_mediconfusion_files(dataset_path: str, results_path: str, *, with_ci: bool = False,
                              tr: float = answers.MEDICONFUSION_TR) -> dict:
    slots = mediconfusion_slots(dataset_path)
    preds, _mode = mc_pred.read(results_path)
    unknown = ~preds["item_id"].isin(slots["item_id"])
    if unknown.any():
        pid = preds.loc[unknown, "item_id"].iloc[0].rsplit("-", 1)[0]
        raise MedvizError("pair id is not in the dataset", file=results_path, record=pid)
    preds = preds.assign(parsed=answers.parse_letters("mediconfusion", preds, tr=tr))
    frame = slots.merge(preds[["item_id", "parsed"]], on="item_id", how="left")
    frame["parsed"] = frame["parsed"].astype(object).where(frame["parsed"].notna(), None)
    res = scoring.mediconfusion_metrics(frame, with_ci=with_ci)
    res["answered_pairs"] = int(preds["item_id"].str.rsplit("-", n=1).str[0].nunique())
    res["tr"] = answers.judge_threshold(tr)
    return res


def gmai_items_frame(tsv_path: str) -> pd.DataFrame:
    rows = []
    for line, row in gmai_bench.iter_rows(tsv_path, need_image=False):
        it = gmai_bench.row_to_item(row, f"index {row.get('index')} (line {line})")
        rows.append((it.item_id, it.answer, json.dumps(it.options), len(it.options), it.task, it.department,
                     it.granularity, it.modality, it.categories[0] if it.categories else None))
    return pd.DataFrame(rows, columns=["item_id", "answer", "options", "n_options", "task", "department",
                                       "granularity", "modality", "category"])


def score_gmai_files(tsv_path: str, predictions_path: str, *, with_ci: bool = False) -> dict:
    items = gmai_items_frame(tsv_path).set_index("item_id")
    preds = vlm_pred.read(predictions_path)
    unknown = ~preds["item_id"].isin(items.index)
    if unknown.any():
        bad = preds.loc[unknown, "item_id"].iloc[0]
        raise MedvizError("prediction for an index that is not in the benchmark", file=predictions_path,
                          record=f"index {bad}", field="index")
    preds = preds.assign(parsed=answers.parse_letters("vlmeval", preds, items["options"]))
    frame = preds[["item_id", "parsed"]].join(items, on="item_id")
    return scoring.item_metrics(frame, with_ci=with_ci)


def score_store(store, benchmark_id: str, models: list[str] | None = None, *,
                exclude_items: list[str] | None = None) -> dict[str, dict]:
    """Per model: official metrics (pair metrics for paired benchmarks, item metrics otherwise).

    ``exclude_items`` leaves those items out (e.g. disputed answer keys; both images of a pair).
    """
    cur = store.cursor()
    bench = core.benchmark(cur, benchmark_id)
    if bench is None:
        raise MedvizError(f"benchmark '{benchmark_id}' is not in the store")
    frame = core.scoring_frame(cur, benchmark_id, models)
    if exclude_items:
        frame = frame[~frame["item_id"].isin(exclude_items)]
    out, cats, slots_all = {}, None, None
    for model, df in frame.groupby("model", sort=True):
        if registry.get_kind(bench["kind"]).paired:
            # every pair of the benchmark counts, answered or not (as the official evaluate loop does)
            if slots_all is None:
                slots_all = core.items(cur, benchmark_id, columns="item_id, pair_id, slot, answer, categories")
                if exclude_items:
                    slots_all = slots_all[~slots_all["item_id"].isin(exclude_items)]
            slots = slots_all.merge(df[["item_id", "parsed"]], on="item_id", how="left")
            slots["parsed"] = slots["parsed"].astype(object).where(slots["parsed"].notna(), None)
            out[model] = scoring.mediconfusion_metrics(slots, with_ci=True)
        else:
            out[model] = scoring.item_metrics(df, with_ci=True)
            if df["pair_id"].notna().any():
                if cats is None:
                    cats = core.items(cur, benchmark_id, columns="item_id, categories").set_index("item_id")
                paired = df[df["pair_id"].notna()]
                paired = paired.assign(categories=paired["item_id"].map(cats["categories"]).map(list))
                out[model]["pairs"] = scoring.mediconfusion_metrics(paired, with_ci=True)
    return out
