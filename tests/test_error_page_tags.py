"""The Errors page's tag columns: read for the page's rows only (pair and item annotations, per model or
for all models), and the annotation index is built only when the filter needs it."""
from __future__ import annotations

import shutil

import pytest

from medviz import auth
from medviz.readmodels import errors as views
from medviz.annotations import Annotation, close_writer, get_writer
from medviz.demo import SAMPLE_MC
from medviz.store import Store

BLIND = "image-blind-baseline"


def save(w, a):
    """Save ``a`` signed in as its own reviewer (local mode)."""
    return w.save(a, auth.local(a.reviewer))


@pytest.fixture
def tagged(sample_store_file, tmp_path):
    path = str(tmp_path / "t.duckdb")
    shutil.copy(sample_store_file, path)
    s = Store(path)
    w = get_writer(s)
    save(w, Annotation(SAMPLE_MC, "pair", "s001", ["Refusal"], "alice"))                       # all models
    save(w, Annotation(SAMPLE_MC, "pair", "s001", ["Visual confusion/Image ignored"], "bob", model=BLIND))
    save(w, Annotation(SAMPLE_MC, "item", "s002-1", ["Perceptual error/Detail missed"], "carol", model=BLIND))
    gone = save(w, Annotation(SAMPLE_MC, "pair", "s003", ["Refusal"], "dan"))
    w.retract(gone.annotation_id, auth.local("dan"))
    yield s
    close_writer(s)
    s.close()


def test_page_rows_carry_the_tags_of_their_unit_and_model(tagged, monkeypatch):
    def no_index(*a, **k):
        raise AssertionError("the full annotation index must not be built for a filter without tags")
    monkeypatch.setattr(views, "annotation_index", no_index)
    rows, counts = views.error_page(tagged, SAMPLE_MC, None, views.ErrorFilter(outcome=None), 0)
    got = {(r.unit_id, r.model): list(r.tags) for r in rows.itertuples()}
    assert len(rows) == min(counts["rows"], views.PAGE_SIZE)
    assert got[("s001", BLIND)] == ["Refusal", "Visual confusion/Image ignored"]
    other = [m for (u, m) in got if u == "s001" and m != BLIND]
    assert other and all(got[("s001", m)] == ["Refusal"] for m in other)      # all-models tag only
    assert got[("s002", BLIND)] == ["Perceptual error/Detail missed"]           # item tag shows on its pair
    assert all(got[("s002", m)] == [] for (u, m) in got if u == "s002" and m != BLIND)
    assert all(got[k] == [] for k in got if k[0] == "s003")                     # retracted: gone
    r = rows[(rows["unit_id"] == "s001") & (rows["model"] == BLIND)].iloc[0]
    assert list(r["reviewers"]) == ["alice", "bob"]
    table = views.error_table(tagged, rows)
    assert "tags" in table.columns


def test_a_tag_filter_still_selects_through_the_index(tagged):
    f = views.ErrorFilter(outcome=None, tags=["Perceptual error"])
    rows, counts = views.error_page(tagged, SAMPLE_MC, None, f, 0)
    assert set(rows["unit_id"]) == {"s002"} and counts["units"] == 1
    f = views.ErrorFilter(outcome=None, tagged="untagged")
    rows, _ = views.error_page(tagged, SAMPLE_MC, None, f, 0)
    assert not {"s001", "s002"} & set(rows["unit_id"])


def test_tagged_unit_ids_in_one_query_equal_the_annotation_index(tagged):
    """What "next untagged" skips (the Review page's save -> next pair reads it after every save): an item
    annotation counts for its pair, a retracted one does not — the same set as the full annotation index."""
    from medviz.store import annotations as asql
    got = asql.tagged_unit_ids(tagged.cursor(), SAMPLE_MC)
    assert got == views.annotation_index(tagged, SAMPLE_MC).units_with([], [])
    assert got == {"s001", "s002"}


def test_the_annotation_index_rows_one_per_tag_in_order(tagged):
    """One row per current annotation and tag, on the unit it judges, oldest annotation first and each
    annotation's tags in their order (the Embeddings page colours a point by its unit's first tag)."""
    w = get_writer(tagged)
    save(w, Annotation(SAMPLE_MC, "pair", "s004", ["Refusal", "Perceptual error/Detail missed"], "erin"))
    rows = views.annotation_index(tagged, SAMPLE_MC).rows
    got = [(r.unit_id, r.tag, r.reviewer, r.model if isinstance(r.model, str) else None) for r in rows.itertuples()]
    assert got == [("s001", "Refusal", "alice", None), ("s001", "Visual confusion/Image ignored", "bob", BLIND),
                   ("s002", "Perceptual error/Detail missed", "carol", BLIND),
                   ("s004", "Refusal", "erin", None), ("s004", "Perceptual error/Detail missed", "erin", None)]
    idx = views.annotation_index(tagged, SAMPLE_MC)
    assert idx.units_with(["Perceptual error"], []) == {"s002", "s004"}
    assert idx.units_with([], ["bob"]) == {"s001"} and idx.reviewers == ["alice", "bob", "carol", "erin"]
