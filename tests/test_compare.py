"""Model vs model (issue 13): discordant units per slice and McNemar's exact test against scipy."""
from __future__ import annotations

import pytest

from medviz.readmodels import compare

MC = "sample-mediconfusion"


def test_mcnemar_exact_matches_scipy_binomtest():
    stats = pytest.importorskip("scipy.stats")
    for b, c in [(0, 0), (0, 1), (1, 0), (3, 3), (2, 9), (10, 3), (0, 25), (40, 61), (500, 560), (1234, 1300),
                 (7, 0), (100, 100)]:
        want = stats.binomtest(b, b + c, 0.5).pvalue if b + c else 1.0
        assert compare.mcnemar_exact(b, c) == pytest.approx(want, rel=1e-9, abs=1e-300), (b, c)


def test_holm_adjustment():
    assert compare.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert compare.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


@pytest.fixture
def s(sample_store):
    return sample_store


def _models(s):
    return [r[0] for r in s.cursor().execute("SELECT model FROM models WHERE benchmark_id = ? ORDER BY model",
                                            [MC]).fetchall()]


def test_compare_counts_agree_with_the_unit_outcomes(s):
    ma, mb = _models(s)[:2]
    t = compare.compare_models(s, MC, ma, mb, by="modality")
    assert list(t.columns) == compare.COLUMNS and t.iloc[0]["slice"] == compare.ALL
    cur = s.cursor()
    oc = {(u, m): bool(c) for u, m, c in cur.execute(
        "SELECT unit_id, model, coalesce(all_correct, FALSE) FROM unit_outcomes WHERE benchmark_id = ?",
        [MC]).fetchall()}
    units = sorted({u for u, m in oc if m == ma} & {u for u, m in oc if m == mb})
    a_only = [u for u in units if oc[(u, ma)] and not oc[(u, mb)]]
    b_only = [u for u in units if oc[(u, mb)] and not oc[(u, ma)]]
    top = t.iloc[0]
    assert (top.units, top.a_only, top.b_only) == (len(units), len(a_only), len(b_only))
    assert top.both_right + top.both_wrong + top.a_only + top.b_only == top.units
    assert top.p_mcnemar == pytest.approx(compare.mcnemar_exact(len(a_only), len(b_only)))
    assert compare.discordant_units(s, MC, ma, mb, "a_only") == a_only
    assert compare.discordant_units(s, MC, ma, mb, "b_only") == b_only
    # a slice's discordant units are those of its modality
    row = t.iloc[1]
    ids = compare.discordant_units(s, MC, ma, mb, "a_only", "modality", row.slice)
    assert len(ids) == row.a_only and set(ids) <= set(a_only)
    mods = {u: m for u, m in cur.execute(
        "SELECT coalesce(pair_id, item_id), modality FROM items WHERE benchmark_id = ?", [MC]).fetchall()}
    assert all(mods[u] == row.slice for u in ids)
    # A vs B mirrors B vs A
    r = compare.compare_models(s, MC, mb, ma, by="modality")
    assert list(r["a_only"]) == list(t["b_only"]) and list(r["p_mcnemar"]) == pytest.approx(list(t["p_mcnemar"]))
    assert "McNemar exact p" in compare.display_table(t).columns
    # by category: a unit counts toward each of its categories
    c = compare.compare_models(s, MC, ma, mb, by="category")
    assert c.iloc[0].units == top.units and (c["units"].iloc[1:] <= top.units).all()
    assert c["units"].iloc[1:].sum() >= top.units
