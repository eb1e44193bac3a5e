"""Failure-mode statistics from the clinicians' tags, and how they compare with measured behaviour.

The unit counted is (target, model): a pair or item judged for one model (or for all models). Its
consensus tags are the adjudicator's, if the unit was adjudicated, else the tags at least half of its
reviewers applied. A rate is (units with the tag) / (reviewed units) in the group, with a 95% Wilson
interval. ``blind_vs_tags`` sets the clinicians' "image ignored" tags next to the measured image-blind
answers (same parsed letter for both images of a pair) and encoder-blind pairs (encoder similarity of
the two images >= 0.90, the threshold MediConfusion pairs were mined at).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .. import scoring
from ..store import annotations as sql
from ..store import consensus as csql
from .agreement import cohen_kappa
from .queries import ALL_MODELS
from .taxonomy import active_taxonomy

DIMENSIONS = ("modality", "model", "category", "department", "task", "target_type")
ENCODER_BLIND_THRESHOLD = 0.90


def sync_consensus(store) -> int:
    """Bring the materialised consensus up to date with every saved revision (on the store's writer, only
    when something was saved since the last sync); returns the number of revisions applied."""
    synced, newest = csql.consensus_lag(store.cursor())
    if synced == newest:
        return 0
    if getattr(store, "read_only", False):
        from ..errors import MedvizError
        raise MedvizError("the annotation consensus in this database is out of date and it is open read-only; "
                          "open it once for writing (any medviz command) to bring it up to date", file=store.path)
    from ..writer import execute_write_fn
    return execute_write_fn(store, csql.sync_consensus)


def consensus(store, benchmark_id: str) -> pd.DataFrame:
    """One row per judged unit: target, model (None = all), consensus ``tags``, ``n_reviewers``,
    ``adjudicated``, ``proposed_answers`` — the adjudicator's tags if the unit was adjudicated, else the tags
    at least half of its reviewers applied. Read from the materialised table, brought up to date first.
    """
    sync_consensus(store)
    df = csql.consensus(store.cursor(), benchmark_id)
    if len(df):
        df["tags"] = df["tags"].map(list)
        df["proposed_answers"] = df["proposed_answers"].map(list)
        df["model"] = df["model"].astype(object).where(df["model"].notna(), None)
        df["n_reviewers"] = df["n_reviewers"].astype(int)
    return df


def disputed_items(store, benchmark_id: str) -> pd.DataFrame:
    """Targets whose answer key reviewers dispute (consensus includes the disputed-key tag), with the
    item ids to leave out when re-scoring and the proposed answers."""
    tax = active_taxonomy(store)
    tag = tax.path_for_role("answer_key_disputed")
    c = consensus(store, benchmark_id)
    cols = ["target_type", "target_id", "item_ids", "proposed_answers"]
    if c.empty or tag is None:
        return pd.DataFrame(columns=cols)
    c = c[c["tags"].map(lambda ts: tag in ts)]
    ctx = sql.target_context(store.cursor(), benchmark_id).set_index(["target_type", "target_id"])
    rows = []
    for (tt, tid), g in c.groupby(["target_type", "target_id"], sort=True):
        ids = ctx.loc[(tt, tid), "item_ids"].split(";") if (tt, tid) in ctx.index else []
        rows.append({"target_type": tt, "target_id": tid, "item_ids": ids,
                     "proposed_answers": sorted({p for ps in g["proposed_answers"] for p in ps})})
    return pd.DataFrame(rows, columns=cols)


def failure_mode_stats(store, benchmark_id: str, by=("modality", "model"), *, level: str = "tag",
                       exclude_disputed: bool = False) -> pd.DataFrame:
    """Count and rate of each failure mode per group of ``by`` (any of ``DIMENSIONS``).

    Columns: the ``by`` columns, ``tag``, ``count`` (units with the tag), ``n`` (reviewed units in the
    group), ``rate``, ``ci_low``, ``ci_high`` (95% Wilson). ``level='top'`` rolls tags up to their
    top-level category. ``category`` counts a unit once toward each of its categories. Units whose
    answer key is disputed are left out with ``exclude_disputed``. Counted in DuckDB over the materialised
    consensus (200k annotations: tens of milliseconds).
    """
    by = [by] if isinstance(by, str) else list(by)
    bad = [b for b in by if b not in DIMENSIONS]
    if bad:
        from ..errors import MedvizError
        raise MedvizError(f"cannot group by {bad[0]!r}; choose from {', '.join(DIMENSIONS)}", field="by")
    out_cols = by + ["tag", "count", "n", "rate", "ci_low", "ci_high"]
    exclude = active_taxonomy(store).path_for_role("answer_key_disputed") if exclude_disputed else None
    sync_consensus(store)
    res = sql.failure_mode_counts(store.cursor(), benchmark_id, by, top_level=level == "top", exclude_tag=exclude)
    if res.empty:
        return pd.DataFrame(columns=out_cols)
    res["count"] = res["count"].astype(int)
    res["n"] = res["n"].astype(int)
    res["rate"] = res["count"] / res["n"]
    lo, hi = scoring.wilson(res["count"].to_numpy(), res["n"].to_numpy())
    res["ci_low"], res["ci_high"] = np.atleast_1d(lo), np.atleast_1d(hi)
    return res[out_cols].sort_values(by + ["tag"], kind="stable").reset_index(drop=True)


def encoder_similarities(store, benchmark_id: str) -> pd.DataFrame:
    """Per pair: the similarities shipped with the benchmark (``biomedclip_sim``, ``dino_sim``) and one
    ``sim_<encoder>`` column per encoder whose embeddings medviz computed (cosine of the two images)."""
    cur = store.cursor()
    sims = sql.pair_similarities(cur, benchmark_id)
    try:
        from ..store import embeddings as emb
    except ImportError:  # the embeddings component is optional
        return sims
    if not sql.table_exists(cur, "embeddings"):
        return sims
    for enc in emb.computed_encoders(cur, benchmark_id):
        # fresh cursors: a single-row fetch may leave a result open on a cursor (DuckDB 2 refuses reuse)
        c1, c2 = store.new_cursor(), store.new_cursor()
        try:
            key = emb.best_key(c1, benchmark_id, enc)
            if key is None:
                continue
            digest = key[0]
            meta, vecs = emb.benchmark_embeddings(c2, benchmark_id, enc, digest, decode=key[1], pairs_only=True)
        finally:
            c1.close()
            c2.close()
        col = f"sim_{enc}"
        sims[col] = np.nan
        sims.attrs.setdefault("weights_sha256", {})[enc] = digest     # which weights these numbers come from
        if len(meta) == 0:
            continue
        v = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        idx = {(p, s): i for i, (p, s) in enumerate(zip(meta["pair_id"], meta["slot"])) if isinstance(p, str)}
        vals = []
        for pid in sims["pair_id"]:
            i, j = idx.get((pid, 1)), idx.get((pid, 2))
            vals.append(float(v[i] @ v[j]) if i is not None and j is not None else np.nan)
        sims[col] = vals
    return sims


def _encoder_column(sims: pd.DataFrame) -> str | None:
    computed = [c for c in sims.columns if c.startswith("sim_") and sims[c].notna().any()]
    if computed:
        return computed[0]
    if "biomedclip_sim" in sims.columns and sims["biomedclip_sim"].notna().any():
        return "biomedclip_sim"
    return None


def blind_pairs(store, benchmark_id: str, *, threshold: float = ENCODER_BLIND_THRESHOLD) -> pd.DataFrame:
    """Per (model, pair): measured image-blind answer, encoder-blind pair, and the clinicians' verdict.

    ``tagged_image_ignored`` is None when nobody reviewed the pair for that model (or for all models).
    """
    pa_ = sql.pair_answers(store.cursor(), benchmark_id)
    pa_["image_blind"] = scoring.same_answer(pa_["parsed_1"], pa_["parsed_2"])
    sims = encoder_similarities(store, benchmark_id)
    col = _encoder_column(sims)
    sim = sims.set_index("pair_id")[col] if col else pd.Series(dtype=float)
    pa_["encoder_similarity"] = pa_["pair_id"].map(sim) if col else np.nan
    pa_["encoder"] = col
    pa_["encoder_blind"] = pa_["encoder_similarity"].map(lambda s: None if pd.isna(s) else bool(s >= threshold))
    tag = active_taxonomy(store).path_for_role("image_ignored")
    c = consensus(store, benchmark_id)
    c = c[c["target_type"] == "pair"] if len(c) else c
    verdict: dict[tuple[str, str], bool] = {}
    for r in c.itertuples():
        verdict[(r.target_id, r.model_key)] = verdict.get((r.target_id, r.model_key), False) or (tag in r.tags)
    tagged = []
    for pid, model in zip(pa_["pair_id"], pa_["model"]):
        own, every = verdict.get((pid, model)), verdict.get((pid, ALL_MODELS))
        tagged.append(None if own is None and every is None else bool(own) or bool(every))
    pa_["tagged_image_ignored"] = tagged
    return pa_


def blind_vs_tags(store, benchmark_id: str, *, threshold: float = ENCODER_BLIND_THRESHOLD) -> pd.DataFrame:
    """Per model: image-blind and encoder-blind rates (Wilson CIs) next to the clinicians' "image ignored"
    rate, and how well the tags agree with the measured image-blind answers on reviewed pairs
    (2x2 counts and Cohen's kappa)."""
    d = blind_pairs(store, benchmark_id, threshold=threshold)
    rows = []
    for model, g in d.groupby("model", sort=True):
        n = len(g)
        k = int(g["image_blind"].sum())
        enc = g[g["encoder_blind"].notna()]
        ke = int(enc["encoder_blind"].astype(bool).sum())
        rev = g[g["tagged_image_ignored"].notna()]
        kt = int(rev["tagged_image_ignored"].astype(bool).sum())
        blind_r, tag_r = rev["image_blind"].astype(bool), rev["tagged_image_ignored"].astype(bool)
        lo, hi = scoring.wilson(k, n)
        elo, ehi = scoring.wilson(ke, len(enc))
        tlo, thi = scoring.wilson(kt, len(rev))
        rows.append({
            "model": model, "n_pairs": n, "image_blind": k, "image_blind_rate": k / n if n else math.nan,
            "image_blind_low": lo, "image_blind_high": hi,
            "encoder": g["encoder"].iloc[0], "n_with_similarity": len(enc), "encoder_blind": ke,
            "encoder_blind_rate": ke / len(enc) if len(enc) else math.nan, "encoder_blind_low": elo,
            "encoder_blind_high": ehi,
            "n_reviewed": len(rev), "tagged_image_ignored": kt,
            "tagged_rate": kt / len(rev) if len(rev) else math.nan, "tagged_low": tlo, "tagged_high": thi,
            "blind_and_tagged": int((blind_r & tag_r).sum()), "blind_not_tagged": int((blind_r & ~tag_r).sum()),
            "tagged_not_blind": int((~blind_r & tag_r).sum()), "neither": int((~blind_r & ~tag_r).sum()),
            "kappa_tags_vs_measured": cohen_kappa(list(blind_r), list(tag_r)) if len(rev) else math.nan,
        })
    return pd.DataFrame(rows)


def rescore_without_disputed(store, benchmark_id: str, models: list[str] | None = None) -> dict:
    """Official metrics per model with the disputed-answer-key targets left out (both images of a pair).

    Returns ``{"excluded_items": [...], "scores": {model: metrics}}``.
    """
    from ..evaluate import score_store
    excluded = sorted({i for ids in disputed_items(store, benchmark_id)["item_ids"] for i in ids})
    return {"excluded_items": excluded, "scores": score_store(store, benchmark_id, models, exclude_items=excluded)}
