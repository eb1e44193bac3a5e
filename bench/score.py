"""Scoring 1M generated predictions with each official scorer, next to a naive pandas row loop.

Data (generated, deterministic): a MediConfusion-style pair benchmark (100k pairs = 200k image slots x 5 models
= 1,000,000 predictions) and a GMAI-style item benchmark (100k items, 2-5 options x 10 models = 1,000,000
predictions), with a realistic mix of answers: bare letters, "The answer is X.", option text, refusals,
rambling text, and judge scores for a share of the pair predictions.

Measured: parse every raw answer under the official rules (medviz.answers.parse_letters) + compute the
official metrics per model (medviz.scoring). Baseline: the obvious pure-pandas loop (``iterrows`` calling
the same parsers row by row, then tallying like the official scripts), timed on 100,000 rows in the same run
and scaled x10 to 1M (its cost is linear in rows). Usage: python bench/score.py [--rows N]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from medviz import answers, scoring  # noqa: E402
from bench.make_scale import VOCAB, answer_text as free_text  # noqa: E402



def make_pairs(n_pairs: int, n_models: int, seed: int = 0):
    rng = random.Random(seed)
    cats = ["Cerebral", "Vascular", "Head and Neck", "Cardiac", "Spinal", "Gastrointestinal", "Musculoskeletal",
            "Pulmonary", "Nuclear Medicine"]
    slots = []
    for p in range(n_pairs):
        c1 = rng.choice("AB")
        cs = rng.sample(cats, rng.randint(1, 2))
        slots.append((f"p{p}", 1, c1, cs))
        slots.append((f"p{p}", 2, "B" if c1 == "A" else "A", cs))
    slots = pd.DataFrame(slots, columns=["pair_id", "slot", "answer", "categories"])
    slots["item_id"] = slots["pair_id"] + "-" + slots["slot"].astype(str)
    frames = []
    texts = [free_text(rng, "AB", ["option one", "option two"]) for _ in range(5000)]
    for m in range(n_models):
        nprng = np.random.default_rng(seed + m)
        raw = np.array(texts, dtype=object)[nprng.integers(0, len(texts), len(slots))]
        judged = nprng.random(len(slots)) < 0.2
        sa = np.where(judged, nprng.integers(1, 11, len(slots)), np.nan)
        sb = np.where(judged, nprng.integers(1, 11, len(slots)), np.nan)
        frames.append(pd.DataFrame({"model": f"m{m}", "item_id": slots["item_id"], "raw": raw,
                                    "score_a": sa, "score_b": sb}))
    return slots, pd.concat(frames, ignore_index=True)


def make_items(n_items: int, n_models: int, seed: int = 1):
    rng = random.Random(seed)
    rows = []
    for i in range(n_items):
        k = rng.randint(2, 5)
        opts = rng.sample(VOCAB, k)
        rows.append((str(i), json.dumps(dict(zip("ABCDE", opts))), k, rng.choice("ABCDE"[:k]),
                     rng.choice(["CT", "MR", "X-ray", "US", "Fundus"]), rng.choice(["DD", "OR-A", "AR", "C"]),
                     rng.choice(["Radiology", "Urology", "Oncology"]), rng.choice(["image level", "box level"])))
    items = pd.DataFrame(rows, columns=["item_id", "options", "n_options", "answer", "modality", "task",
                                        "department", "granularity"])
    frames = []
    opt_lists = [list(json.loads(o).values()) for o in items["options"]]
    letters = ["ABCDE"[:k] for k in items["n_options"]]
    for m in range(n_models):
        r = random.Random(seed * 100 + m)
        raw = [free_text(r, letters[i], opt_lists[i]) if r.random() < 0.3 else r.choice(letters[i])
               for i in range(n_items)]
        frames.append(pd.DataFrame({"model": f"m{m}", "item_id": items["item_id"], "raw": raw}))
    return items, pd.concat(frames, ignore_index=True)


def score_pairs_fast(slots, preds):
    parsed = answers.parse_letters("mediconfusion", preds, None)
    df = preds[["model", "item_id"]].assign(parsed=parsed).merge(slots, on="item_id")
    return {m: scoring.mediconfusion_metrics(g) for m, g in df.groupby("model", sort=True)}


def score_items_fast(items, preds):
    idx = items.set_index("item_id")
    parsed = answers.parse_letters("vlmeval", preds, idx["options"])
    df = preds[["model", "item_id"]].assign(parsed=parsed).join(idx, on="item_id")
    return {m: scoring.item_metrics(g) for m, g in df.groupby("model", sort=True)}


def score_pairs_naive(slots, preds):
    """Row-by-row pandas: what a first script would do."""
    sl = slots.set_index("item_id")
    chosen = {}
    for _, r in preds.iterrows():
        if not pd.isna(r["score_a"]):
            c = answers.mediconfusion_choice(r["score_a"], r["score_b"])
        else:
            c = answers.mediconfusion_choice(*answers.mediconfusion_scores(r["raw"]))
        chosen[(r["model"], r["item_id"])] = c
    out = {}
    for model in preds["model"].unique():
        n = set_ok = 0
        for pid in slots["pair_id"].unique():
            c1, c2 = chosen.get((model, f"{pid}-1")), chosen.get((model, f"{pid}-2"))
            if c1 is None or c2 is None:
                continue
            n += 1
            set_ok += c1 == sl.loc[f"{pid}-1", "answer"] and c2 == sl.loc[f"{pid}-2", "answer"]
        out[model] = set_ok / n if n else 0
    return out


def score_items_naive(items, preds):
    idx = items.set_index("item_id")
    hits = {}
    for _, r in preds.iterrows():
        it = idx.loc[r["item_id"]]
        p = answers.vlmeval_infer(r["raw"], json.loads(it["options"]))
        hits.setdefault(r["model"], []).append(p == it["answer"])
    return {m: sum(h) / len(h) for m, h in hits.items()}


def timed(fn, *a):
    t = time.perf_counter()
    res = fn(*a)
    return time.perf_counter() - t, res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000, help="predictions per scorer")
    ap.add_argument("--naive-rows", type=int, default=100_000)
    args = ap.parse_args()
    pair_models, item_models = 5, 10
    slots, ppreds = make_pairs(args.rows // (2 * pair_models), pair_models)
    items, ipreds = make_items(args.rows // item_models, item_models)

    t_pairs, res_p = timed(score_pairs_fast, slots, ppreds)
    t_items, res_i = timed(score_items_fast, items, ipreds)

    # naive loop on a slice (whole pairs / items of the first model), scaled to the full row count
    sub_slots = slots.iloc[: args.naive_rows]
    sub_pp = ppreds[ppreds["item_id"].isin(sub_slots["item_id"]) & (ppreds["model"] == "m0")]
    sub_items = items.iloc[: args.naive_rows]
    sub_ip = ipreds[ipreds["item_id"].isin(sub_items["item_id"]) & (ipreds["model"] == "m0")]
    tn_p, naive_p = timed(score_pairs_naive, sub_slots, sub_pp)
    tn_i, naive_i = timed(score_items_naive, sub_items, sub_ip)
    scale_p, scale_i = len(ppreds) / len(sub_pp), len(ipreds) / len(sub_ip)

    # the fast path must agree with the naive loop on the slice it was run on
    fast_sub = score_pairs_fast(sub_slots, sub_pp)["m0"]["set_accuracy"]
    assert abs(fast_sub - naive_p["m0"]) < 1e-12, (fast_sub, naive_p)
    fast_sub_i = score_items_fast(sub_items, sub_ip)["m0"]["overall"]
    assert abs(fast_sub_i - naive_i["m0"]) < 1e-12, (fast_sub_i, naive_i)

    total = t_pairs + t_items
    print(f"{'what':<44}{'rows':>11}{'seconds':>10}{'naive s (scaled)':>18}{'speed-up':>10}")
    print(f"{'MediConfusion pairs (parse + metrics)':<44}{len(ppreds):>11,}{t_pairs:>10.2f}{tn_p * scale_p:>18.1f}"
          f"{tn_p * scale_p / t_pairs:>9.0f}x")
    print(f"{'VLMEvalKit items (parse + metrics)':<44}{len(ipreds):>11,}{t_items:>10.2f}{tn_i * scale_i:>18.1f}"
          f"{tn_i * scale_i / t_items:>9.0f}x")
    print(f"(naive loop measured on {len(sub_pp):,} + {len(sub_ip):,} rows: {tn_p:.1f}s + {tn_i:.1f}s, "
          "scaled linearly)")
    print(f"set accuracy m0 {res_p['m0']['set_accuracy']:.4f}; item accuracy m0 {res_i['m0']['overall']:.4f}")
    print(f"RESULT score_1m_pair_predictions {t_pairs:.2f} s (budget < 5)")
    print(f"RESULT score_1m_item_predictions {t_items:.2f} s (budget < 5)")
    print(f"RESULT score_1m_predictions {total:.2f} s (budget < 5)")  # both scorers, 1M predictions each
    print(f"RESULT score_speedup_vs_naive {min(tn_p * scale_p / t_pairs, tn_i * scale_i / t_items):.0f} ratio "
          "(budget >= 1)")


if __name__ == "__main__":
    main()
