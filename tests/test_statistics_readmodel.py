"""The Statistics page's tables: human labels, counts beside rates, no raw JSON, no "None" (issue 13)."""
from __future__ import annotations

import math

import pandas as pd

from medviz.readmodels import statistics as S


def test_undefined_figures_say_too_few_items():
    assert S.number(math.nan) == "n/a (too few items)" and S.number(None) == "n/a (too few items)"
    assert S.interval(math.nan, 0.3) == "n/a (too few items)"
    assert S.interval(0.12, 0.3) == "12% – 30%" and S.interval(0.41, 0.772, percent=False) == "0.41 – 0.77"


def test_agreement_tables_have_labels_counts_and_intervals():
    cohen = pd.DataFrame({"reviewer_a": ["alice"], "reviewer_b": ["bob"], "n_items": [4], "n_decisions": [8],
                          "kappa": [0.5], "kappa_low": [0.1], "kappa_high": [0.9], "observed": [0.75],
                          "exact_match": [0.75]})
    t = S.cohen_table(cohen)
    assert list(t.iloc[0]) == ["alice", "bob", 4, 8, "0.50", "0.10 – 0.90", "75%", "75%"]
    per_tag = pd.DataFrame({"tag": ["A", "B"], "n_items": [3, 3], "n_positive": [3, 1], "alpha": [math.nan, 0.2],
                            "alpha_low": [math.nan, -0.1], "alpha_high": [math.nan, 0.6], "observed": [1.0, 0.67]})
    a = S.alpha_table(per_tag)
    assert a.iloc[0]["Krippendorff's α"] == "n/a (too few items)"
    assert "None" not in a.to_string() and "nan" not in a.to_string().lower()
    assert all(" " in c or c == "tag" for c in a.columns)            # labels, not identifiers


def test_heat_cells_put_counts_beside_rates_and_queue_is_text():
    stats = pd.DataFrame({"tag": ["X", "X", "Y"], "modality": ["CT", "MR", "CT"], "count": [3, 0, 10],
                          "n": [10, 4, 10], "rate": [0.3, 0.0, 1.0]})
    rates, labels = S.heat_cells(stats, "modality")
    assert labels.loc["X", "CT"] == "30% (3/10)" and labels.loc["X", "MR"] == "0% (0/4)"
    assert labels.loc["Y", "MR"] == "–" and math.isnan(rates.loc["Y", "MR"])
    q = pd.DataFrame({"target_id": ["s1"], "model": [None], "n_reviewers": [2],
                      "tags_by_reviewer": [{"alice": ["A/x"], "bob": []}], "common_tags": [[]],
                      "disputed_tags": [["A/x"]], "proposed_answers": [[]]})
    row = S.disagreement_table(q).iloc[0]
    assert row["tags by reviewer"] == "alice: A/x; bob: (none)" and row["model"] == "(all models)"
    assert "{" not in S.disagreement_table(q).to_string()
