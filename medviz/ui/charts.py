"""Plotly figures, the leaderboard's HTML bars and display tables for the pages (no Streamlit calls; kept here
because only pages use them)."""
from __future__ import annotations

import html
import math

import pandas as pd
import plotly.graph_objects as go

from ..registry import METRIC_LABELS
from .text import html_text

BASELINES = {"set_accuracy": 0.25, "individual_accuracy": 0.5, "confusion": 0.5}
WRONG, RIGHT, NEUTRAL = "#d62728", "#2ca02c", "#7f7f7f"


def headline_metric(lb: pd.DataFrame) -> str:
    return "set_accuracy" if "set_accuracy" in lb.columns and lb["set_accuracy"].notna().any() else "accuracy"


def _label(model: str, synthetic: bool) -> str:
    return f"{model} (synthetic)" if synthetic else model


def leaderboard_html(lb: pd.DataFrame, metric: str) -> str:
    """The leaderboard's bars as plain HTML/CSS for ``st.html``: one bar per model (best first) with its 95% Wilson
    interval as a whisker, the value, and the random-guess line. No chart library: the Leaderboard is the page
    a visitor opens first, and a plotly chart there made that first visit load and compile plotly's 4.7 MB
    bundle before anything was drawn. Model names are escaped (text, never markup)."""
    df = lb[lb[metric].notna()].sort_values(metric, ascending=False)
    base = BASELINES.get(metric)
    if metric == "accuracy" and "baseline" in df.columns and df["baseline"].notna().any():
        base = float(df["baseline"].mean())
    if base is not None and math.isnan(base):
        base = None
    lo, hi = df.get(metric + "_low"), df.get(metric + "_high")

    def pct(v) -> float:
        return round(100 * min(1.0, max(0.0, float(v))), 2)

    rows = []
    for i, (m, syn, v) in enumerate(zip(df["model"], df["synthetic"], df[metric])):
        name = html.escape(_label(m, bool(syn)))
        ci = ""
        tip = f"{v:.1%}"                # the name is the row's text; attributes carry numbers only
        if lo is not None and hi is not None and pd.notna(lo.iloc[i]) and pd.notna(hi.iloc[i]):
            a, b = pct(lo.iloc[i]), pct(hi.iloc[i])
            ci = f"<div class='mv-lb-ci' style='left:{a}%;width:{max(b - a, 0.3)}%'></div>"
            tip += f" (95% interval {lo.iloc[i]:.1%}–{hi.iloc[i]:.1%})"
        line = f"<div class='mv-lb-base' style='left:{pct(base)}%'></div>" if base is not None else ""
        colour = "#9ecae1" if syn else "#3182bd"
        rows.append(f"<div class='mv-lb-row' title='{html.escape(tip, quote=True)}'><div class='mv-lb-name'>{name}</div>"
                    f"<div class='mv-lb-track'><div class='mv-lb-bar' style='width:{pct(v)}%;background:{colour}'>"
                    f"</div>{ci}{line}<span class='mv-lb-val'>{v:.1%}</span></div></div>")
    ticks = "".join(f"<span style='left:{t}%'>{t}%</span>" for t in (0, 25, 50, 75, 100))
    legend = (f"<span class='mv-lb-key'><span class='mv-lb-dash'></span> random guess {base:.0%}</span>"
              if base is not None else "")
    return (LEADERBOARD_CSS + "<div class='mv-lb' data-testid='mv-leaderboard'>"
            f"<div class='mv-lb-head'>{html.escape(METRIC_LABELS.get(metric, metric))} · whisker: 95% Wilson "
            f"interval{legend}</div>" + "".join(rows)
            + f"<div class='mv-lb-row'><div class='mv-lb-name'></div><div class='mv-lb-axis'>{ticks}</div></div></div>")


LEADERBOARD_CSS = """<style>
.mv-lb {font-size: 0.9rem; margin: 4px 0 12px;}
.mv-lb-head {color: #444; margin-bottom: 6px;}
.mv-lb-key {margin-left: 14px; color: #d62728;}
.mv-lb-dash {display: inline-block; width: 18px; border-top: 2px dashed #d62728; vertical-align: middle;}
.mv-lb-row {display: flex; align-items: center; gap: 10px; margin: 5px 0;}
.mv-lb-name {flex: 0 0 30%; text-align: right; overflow: hidden; text-overflow: ellipsis; white-space: nowrap;}
.mv-lb-track {position: relative; flex: 1; height: 30px; background: #f3f5f8; border-radius: 3px;}
.mv-lb-bar {position: absolute; left: 0; top: 0; bottom: 0; border-radius: 3px;}
.mv-lb-ci {position: absolute; top: 50%; height: 0; border-top: 2px solid #444;}
.mv-lb-ci::before, .mv-lb-ci::after {content: ""; position: absolute; top: -7px; height: 12px; border-left: 2px solid #444;}
.mv-lb-ci::before {left: -1px;} .mv-lb-ci::after {right: -1px;}
.mv-lb-base {position: absolute; top: -3px; bottom: -3px; border-left: 2px dashed #d62728;}
.mv-lb-val {position: absolute; right: 6px; top: 50%; transform: translateY(-50%); font-weight: 600; color: #222;}
.mv-lb-axis {position: relative; flex: 1; height: 16px; color: #666; font-size: 0.75rem;}
.mv-lb-axis span {position: absolute; transform: translateX(-50%);}
.mv-lb-axis span:first-child {transform: none;} .mv-lb-axis span:last-child {transform: translateX(-100%);}
</style>"""


def leaderboard_table(lb: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({"model": [_label(m, s) for m, s in zip(lb["model"], lb["synthetic"])]})
    for k, label in METRIC_LABELS.items():
        if k in lb.columns and lb[k].notna().any():
            out[label] = [f"{v:.1%} [{a:.0%}–{b:.0%}]" if pd.notna(v) else "–"
                          for v, a, b in zip(lb[k], lb[k + "_low"], lb[k + "_high"])]
    if "pairs" in lb.columns:
        out["pairs"] = lb["pairs"].astype("Int64")
    if "items" in lb.columns:
        out["items"] = lb["items"].astype("Int64")
    return out


def rate_bars(df: pd.DataFrame, x: str, y: str, lo: str, hi: str, color: str | None = None,
              title: str = "") -> go.Figure:
    """Bars of a rate with Wilson whiskers (Statistics page)."""
    fig = go.Figure()
    groups = [(None, df)] if color is None else list(df.groupby(color, sort=True))
    for name, g in groups:
        fig.add_bar(x=[html_text(v) for v in g[x].astype(str)], y=g[y], name=None if name is None else html_text(name),
                    error_y=dict(type="data", symmetric=False, array=(g[hi] - g[y]).tolist(),
                                 arrayminus=(g[y] - g[lo]).tolist()))
    fig.update_layout(barmode="group", yaxis=dict(tickformat=".0%"), title=title,
                      margin=dict(l=10, r=10, t=40, b=10), height=380)
    return fig


COLOUR_MAP = {"all models wrong": "#d62728", "some models wrong": "#ff7f0e", "all models right": "#2ca02c",
              "no prediction": "#9e9e9e", "encoder-blind": "#d62728", "encoder tells apart": "#2ca02c",
              "untagged": "#c7c7c7", "not a pair": "#9e9e9e", "unknown": "#9e9e9e"}
_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
            "#17becf"]


def embedding_figure(df: pd.DataFrame, colour: str) -> go.Figure:
    """The 2-D map: one WebGL trace per colour group, item id as customdata (what a selection returns)."""
    import numpy as np
    fig = go.Figure()
    big = len(df) > 2000
    for i, (name, g) in enumerate(df.groupby(colour, sort=True)):
        trace = go.Scattergl if big else go.Scatter
        fig.add_trace(trace(
            x=g["x"].to_numpy(np.float32), y=g["y"].to_numpy(np.float32), mode="markers", name=str(name),
            customdata=g["item_id"].to_numpy(), text=[html_text(i) for i in g["item_id"]],
            hovertemplate="%{text}<extra>" + html_text(name) + "</extra>",
            marker=dict(size=4 if big else 9, color=COLOUR_MAP.get(str(name), _PALETTE[i % len(_PALETTE)]))))
    fig.update_layout(height=560, dragmode="lasso", margin=dict(l=10, r=10, t=10, b=10),
                      legend_title_text=html_text(colour),
                      xaxis=dict(showticklabels=False), yaxis=dict(showticklabels=False))
    return fig
