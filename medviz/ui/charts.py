"""Plotly figures and display tables for the pages (no Streamlit calls; kept here because only pages use them)."""
from __future__ import annotations

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


def leaderboard_figure(lb: pd.DataFrame, metric: str) -> go.Figure:
    df = lb[lb[metric].notna()].sort_values(metric)
    labels = [_label(m, s) for m, s in zip(df["model"], df["synthetic"])]
    lo, hi = df.get(metric + "_low"), df.get(metric + "_high")
    err = None
    if lo is not None and hi is not None:
        err = dict(type="data", symmetric=False, array=(hi - df[metric]).tolist(),
                   arrayminus=(df[metric] - lo).tolist(), color="#444", thickness=1.5, width=6)
    colors = ["#9ecae1" if s else "#3182bd" for s in df["synthetic"]]
    fig = go.Figure(go.Bar(x=df[metric], y=[html_text(x) for x in labels], orientation="h", error_x=err, marker_color=colors,
                           text=[f"{v:.1%}" for v in df[metric]], textposition="inside",
                           hovertemplate="%{y}: %{x:.1%}<extra></extra>"))
    base = BASELINES.get(metric)
    if metric == "accuracy" and "baseline" in df.columns and df["baseline"].notna().any():
        base = float(df["baseline"].mean())
    if base is not None and not math.isnan(base):
        fig.add_vline(x=base, line_dash="dash", line_color=WRONG,
                      annotation_text=f"random guess {base:.0%}", annotation_position="top")
    fig.update_layout(xaxis=dict(range=[0, 1], tickformat=".0%", title=METRIC_LABELS.get(metric, metric)),
                      height=max(220, 70 + 48 * len(df)), margin=dict(l=10, r=10, t=40, b=40), showlegend=False)
    return fig


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
