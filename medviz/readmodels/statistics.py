"""The Statistics page: tag trends over time. The failure-mode tables, image-blind vs. tags and reviewer
agreement are read models of the annotation domain itself (``medviz.annotations.stats`` / ``agreement``);
the page calls those directly."""
from __future__ import annotations

import math

import pandas as pd

from ..annotations import current_annotations


def tag_trends(store, benchmark_id: str, freq: str = "D") -> pd.DataFrame:
    """Annotations saved per period (``freq``: D/W/M) and top-level tag: columns period, tag, count."""
    cur = current_annotations(store, benchmark_id)
    if cur is None or len(cur) == 0:
        return pd.DataFrame(columns=["period", "tag", "count"])
    df = cur[["created_at", "tags"]].explode("tags").dropna(subset=["tags"])
    df["tag"] = df["tags"].astype(str).str.split("/").str[0]
    df["period"] = pd.to_datetime(df["created_at"]).dt.to_period(freq).dt.start_time
    return df.groupby(["period", "tag"], sort=True).size().rename("count").reset_index()


# --- what the page shows: human labels, counts beside rates, one line on how to read each -------------------

NA_TOO_FEW = "n/a (too few items)"

HOW_TO_READ = {
    "tag_counts": "Each row: reviewed units (pair or item × model) whose consensus carries the tag, out of all "
                  "reviewed units; the interval is a 95% Wilson interval for that share.",
    "heatmap": "Each cell: share of the column's reviewed units carrying the row's failure mode, with the counts "
               "(tagged / reviewed) behind it; an empty cell (–) means no reviewed units in that column.",
    "bars": "Bars: share of reviewed units with the failure mode; whiskers: 95% Wilson interval. Short whiskers "
            "need many reviewed units.",
    "trends": "Annotations saved per day, by failure-mode group: how the reviewing went, not how models behave.",
    "blind": "Per model: how often both images of a pair got the same letter (image-blind), how often the pair's "
             "images are near-identical to an encoder (similarity ≥ 0.90), and how often clinicians tagged "
             "“image ignored”; κ: agreement between the tag and the measured image-blind answer on reviewed pairs.",
    "cohen": "Cohen's κ per pair of reviewers over the units both reviewed (each unit × tag is a yes/no "
             "decision): 1 = perfect, 0 = chance level. 95% bootstrap interval, units resampled.",
    "alpha": "Krippendorff's α per tag over units with at least two reviewers: 1 = perfect, 0 = chance level; "
             "n/a when the tag was always or never applied. 95% bootstrap interval, units resampled.",
    "queue": "Units where reviewers chose different tags or proposed different answers; open one in Review to "
             "adjudicate.",
}


def pct(x) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.0f}%"


def interval(lo, hi, *, percent: bool = True) -> str:
    """``12% – 30%`` (or ``0.41 – 0.77``); ``n/a (too few items)`` when undefined."""
    if lo is None or hi is None or any(isinstance(v, float) and math.isnan(v) for v in (lo, hi)):
        return NA_TOO_FEW
    return f"{pct(lo)} – {pct(hi)}" if percent else f"{lo:.2f} – {hi:.2f}"


def number(x, digits: int = 2) -> str:
    return NA_TOO_FEW if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def tag_count_table(stats: pd.DataFrame) -> pd.DataFrame:
    """``failure_mode_stats`` rows (no grouping) with human labels, counts beside the share."""
    return pd.DataFrame({
        "tag": stats["tag"].astype(str),
        "units tagged": stats["count"].astype(int),
        "units reviewed": stats["n"].astype(int),
        "share of reviewed units": [pct(r) for r in stats["rate"]],
        "95% CI (Wilson)": [interval(lo, hi) for lo, hi in zip(stats["ci_low"], stats["ci_high"])],
    })


def heat_cells(stats: pd.DataFrame, column: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rates, labels) pivoted tag x ``column``: the rate for the colour, ``30% (3/10)`` for the text."""
    d = stats.assign(label=[f"{pct(r)} ({int(k)}/{int(n)})" for r, k, n in
                            zip(stats["rate"], stats["count"], stats["n"])])
    rates = d.pivot_table(index="tag", columns=column, values="rate", aggfunc="first")
    labels = d.pivot_table(index="tag", columns=column, values="label", aggfunc="first").reindex_like(rates)
    return rates, labels.fillna("–")


def blind_table(bvt: pd.DataFrame) -> pd.DataFrame:
    """``blind_vs_tags`` with human labels: counts beside every rate, intervals as text."""
    def share(k, n, lo, hi):
        return f"{int(k)}/{int(n)} ({pct(k / n) if n else '–'}; 95% CI {interval(lo, hi)})" if n else NA_TOO_FEW
    return pd.DataFrame({
        "model": bvt["model"],
        "pairs answered": bvt["n_pairs"].astype(int),
        "image-blind: same letter for both images": [share(*v) for v in zip(
            bvt["image_blind"], bvt["n_pairs"], bvt["image_blind_low"], bvt["image_blind_high"])],
        "encoder": bvt["encoder"].map(lambda e: "–" if not isinstance(e, str) else e.removeprefix("sim_")),
        "encoder-blind pairs (similarity ≥ 0.90)": [share(*v) for v in zip(
            bvt["encoder_blind"], bvt["n_with_similarity"], bvt["encoder_blind_low"], bvt["encoder_blind_high"])],
        "tagged “image ignored” (reviewed pairs)": [share(*v) for v in zip(
            bvt["tagged_image_ignored"], bvt["n_reviewed"], bvt["tagged_low"], bvt["tagged_high"])],
        "blind & tagged / blind only / tagged only / neither": [
            f"{a} / {b} / {c} / {d}" for a, b, c, d in zip(bvt["blind_and_tagged"], bvt["blind_not_tagged"],
                                                         bvt["tagged_not_blind"], bvt["neither"])],
        "κ tags vs. measured": [number(k) for k in bvt["kappa_tags_vs_measured"]],
    })


def cohen_table(cohen: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "reviewer A": cohen["reviewer_a"], "reviewer B": cohen["reviewer_b"],
        "units both reviewed": cohen["n_items"].astype(int),
        "yes/no tag decisions": cohen["n_decisions"].astype(int),
        "Cohen's κ": [number(k) for k in cohen["kappa"]],
        "κ 95% CI (bootstrap)": [interval(lo, hi, percent=False) for lo, hi in
                                 zip(cohen["kappa_low"], cohen["kappa_high"])],
        "decisions agreeing": [pct(x) for x in cohen["observed"]],
        "units with the same tag set": [pct(x) for x in cohen["exact_match"]],
    })


def alpha_table(per_tag: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "tag": per_tag["tag"],
        "units with ≥ 2 reviewers": per_tag["n_items"].astype(int),
        "units where someone applied it": per_tag["n_positive"].astype(int),
        "Krippendorff's α": [number(a) for a in per_tag["alpha"]],
        "α 95% CI (bootstrap)": [interval(lo, hi, percent=False) for lo, hi in
                                 zip(per_tag["alpha_low"], per_tag["alpha_high"])],
        "units where all agree": [pct(x) for x in per_tag["observed"]],
    })


def disagreement_table(q: pd.DataFrame) -> pd.DataFrame:
    """The adjudication queue as readable text (no dict / list reprs)."""
    def tags_by(d):
        return "; ".join(f"{r}: {', '.join(ts) or '(none)'}" for r, ts in dict(d).items())
    return pd.DataFrame({
        "pair / item": q["target_id"].astype(str),
        "model": q["model"].map(lambda m: m if isinstance(m, str) else "(all models)"),
        "reviewers": q["n_reviewers"].astype(int),
        "tags by reviewer": [tags_by(d) for d in q["tags_by_reviewer"]],
        "agreed tags": [", ".join(t) or "–" for t in q["common_tags"]],
        "disputed tags": [", ".join(t) or "–" for t in q["disputed_tags"]],
        "proposed answers": [", ".join(p) or "–" for p in q["proposed_answers"]],
    })
