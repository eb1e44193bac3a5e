"""Bulk tagging (issue 13): every unit of an Errors filter (or a lasso selection) tagged in one action, as
individual annotations by the signed-in reviewer, all or nothing."""
from __future__ import annotations

import pytest

from medviz.annotations import current_annotations, identity
from medviz.annotations.bulk import tag_units
from medviz.errors import MedvizError
from medviz.readmodels.errors import ErrorFilter
from medviz.readmodels.lists import ReviewList

MC, GMAI = "sample-mediconfusion", "sample-gmai"
IGNORED = "Visual confusion/Image ignored"


@pytest.fixture
def s(sample_store):
    return sample_store


def test_tag_every_unit_of_a_filter_as_individual_annotations(s):
    who = identity.local_reviewer("Dr Bulk")
    units = ReviewList.errors(ErrorFilter(outcome="confused")).unit_ids(s, MC)
    assert len(units) >= 2
    saved = tag_units(s, MC, units, [IGNORED], who, rationale="same letter for both images")
    assert [a.target_id for a in saved] == units and len({a.annotation_id for a in saved}) == len(units)
    cur = current_annotations(s, MC, reviewer="Dr Bulk")
    assert sorted(cur["target_id"]) == sorted(units)
    assert set(cur["target_type"]) == {"pair"} and all(list(t) == [IGNORED] for t in cur["tags"])
    # items of a benchmark without pairs are item targets
    g = tag_units(s, GMAI, ["0", "1"], ["Refusal"], who)
    assert {a.target_type for a in g} == {"item"}


def test_bulk_tagging_is_all_or_nothing_and_needs_a_principal(s):
    who = identity.local_reviewer("Dr Bulk")
    before = len(current_annotations(s, MC))
    with pytest.raises(MedvizError, match="no pair or item 'nope'"):
        tag_units(s, MC, ["s001", "nope"], [IGNORED], who)
    with pytest.raises(MedvizError, match="unknown tag"):
        tag_units(s, MC, ["s001", "s002"], ["Not a tag"], who)
    with pytest.raises(MedvizError, match="sign in"):
        tag_units(s, MC, ["s001"], [IGNORED], "someone")          # a bare name is not a principal
    with pytest.raises(MedvizError, match="at most"):
        tag_units(s, MC, [f"u{i}" for i in range(6000)], [IGNORED], who)
    assert len(current_annotations(s, MC)) == before
