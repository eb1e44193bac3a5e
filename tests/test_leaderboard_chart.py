"""The Leaderboard's bars (``charts.leaderboard_html``): plain HTML instead of a plotly chart, so the first page a
visitor opens loads no chart library. Checked: one bar per model, best first, widths and whiskers at the values,
the random-guess line, names escaped. Data are synthetic."""
from __future__ import annotations

import re

import pandas as pd

from medviz.ui import charts


def _lb():
    return pd.DataFrame({"model": ["a", "<img src=x onerror=alert(1)>", "c"], "synthetic": [False, True, False],
                         "set_accuracy": [0.4, 0.7, None], "set_accuracy_low": [0.3, 0.6, None],
                         "set_accuracy_high": [0.5, 0.8, None]})


def test_one_bar_per_model_best_first_with_interval_and_baseline():
    out = charts.leaderboard_html(_lb(), "set_accuracy")
    widths = [float(w) for w in re.findall(r"class='mv-lb-bar' style='width:([\d.]+)%", out)]
    assert widths == [70.0, 40.0]                              # model c has no value: no bar
    cis = re.findall(r"class='mv-lb-ci' style='left:([\d.]+)%;width:([\d.]+)%", out)
    assert [(float(a), round(float(w), 2)) for a, w in cis] == [(60.0, 20.0), (30.0, 20.0)]
    assert out.count("class='mv-lb-base' style='left:25.0%'") == 2   # random guess for set accuracy: 25%
    assert "random guess 25%" in out and "70.0%" in out and "40.0%" in out


def test_model_names_are_text_not_markup():
    out = charts.leaderboard_html(_lb(), "set_accuracy")
    assert "<img" not in out
    assert "&lt;img src=x onerror=alert(1)&gt; (synthetic)" in out


def test_no_baseline_line_where_the_metric_has_none():
    lb = _lb().rename(columns=lambda c: c.replace("set_accuracy", "invalid"))
    out = charts.leaderboard_html(lb, "invalid")
    assert "mv-lb-base" not in out.split("</style>", 1)[1] and "random guess" not in out
