"""Double reading (medviz.annotations.reading): plans, my queue, blind mode, adjudication queue and settling."""
from __future__ import annotations

import pytest

from medviz.annotations import Annotation, close_writer, get_writer
from medviz.annotations import reading as R
from medviz import auth
from medviz.errors import MedvizError

B = "bench"
DETAIL = "Perceptual error/Detail missed"
IGNORED = "Visual confusion/Image ignored"
ALICE, BOB, CAROL = (auth.local(n, adjudicators=[], admins=[]) for n in ("alice", "bob", "carol"))
ADJ = auth.local("dr-adj", adjudicators=["dr-adj"], admins=[])
UNITS = ["p1", "p2", "p3", "p4"]


@pytest.fixture
def w(store):
    yield get_writer(store)
    close_writer(store)


def read(w, who, target, tags=(DETAIL,), **kw):
    return w.save(Annotation(benchmark_id=B, target_type="pair", target_id=target, tags=list(tags),
                             reviewer=who.name, **kw), who)


def test_plan_defaults_and_blind_default_follows_readers(store):
    p = R.get_plan(store, B)
    assert (p.readers, p.is_blind) == (1, False)
    with pytest.raises(MedvizError, match="only adjudicators"):
        R.set_plan(store, B, 2, by=ALICE)
    R.set_plan(store, B, 2, by=ADJ)
    p = R.get_plan(store, B)
    assert (p.readers, p.blind, p.is_blind) == (2, None, True)
    R.set_plan(store, B, 2, blind=False, by=ADJ)
    assert R.get_plan(store, B).is_blind is False
    assert R.get_plan(store, "other").readers == 1                    # per benchmark
    for bad in (0, 11, 1.5, True, "2"):
        with pytest.raises(MedvizError, match="readers"):
            R.set_plan(store, B, bad, by=ADJ)


def test_my_queue_is_stable_and_skips_pairs_read_by_me_or_already_full(store, w):
    R.set_plan(store, B, 2, by=ADJ)
    assert R.my_queue(store, B, ALICE, list(reversed(UNITS))) == UNITS  # id order whatever the input order
    read(w, ALICE, "p2")
    read(w, BOB, "p3")
    read(w, CAROL, "p3")                                               # p3 has its 2 readers
    assert R.my_queue(store, B, ALICE, UNITS) == ["p1", "p4"]
    assert R.my_queue(store, B, BOB, UNITS) == ["p1", "p2", "p4"]
    a = read(w, BOB, "p1")
    w.retract(a.annotation_id, BOB)                                    # a retracted reading is not a reading
    assert R.my_queue(store, B, BOB, UNITS) == ["p1", "p2", "p4"]


def test_blind_mode_hides_others_until_i_saved_mine(store, w):
    R.set_plan(store, B, 2, by=ADJ)
    read(w, ALICE, "p1", rationale="alice's reasons")
    seen, hidden = R.visible_annotations(store, B, BOB, "p1")
    assert seen.empty and hidden == 1
    assert not R.can_see_others(store, B, BOB, "p1")
    read(w, BOB, "p1", tags=(IGNORED,))
    seen, hidden = R.visible_annotations(store, B, BOB, "p1")
    assert hidden == 0 and sorted(seen["reviewer"]) == ["alice", "bob"]
    # not blind: everything visible
    R.set_plan(store, B, 2, blind=False, by=ADJ)
    seen, hidden = R.visible_annotations(store, B, CAROL, "p1")
    assert hidden == 0 and len(seen) == 2


def test_disagreement_goes_to_adjudication_and_settling_takes_it_out(store, w):
    R.set_plan(store, B, 2, by=ADJ)
    read(w, ALICE, "p1", tags=(DETAIL,))
    read(w, BOB, "p1", tags=(IGNORED,))
    read(w, ALICE, "p2", tags=(DETAIL,))
    read(w, BOB, "p2", tags=(DETAIL,))                                 # agreement: not queued
    assert R.adjudication_targets(store, B) == ["p1"]
    # a blind adjudicator who has not read p1 still sees both readings of a queued pair
    assert R.can_see_others(store, B, ADJ, "p1") and not R.can_see_others(store, B, CAROL, "p1")
    side = R.readings(store, B, "p1", ADJ)
    assert list(side["reviewer"]) == ["alice", "bob"] and [list(t) for t in side["tags"]] == [[DETAIL], [IGNORED]]
    with pytest.raises(MedvizError, match="only adjudicators"):
        R.readings(store, B, "p1", ALICE)
    with pytest.raises(MedvizError, match="only adjudicators"):
        R.settle(store, B, "pair", "p1", [DETAIL], ALICE)
    with pytest.raises(MedvizError, match="no readings"):
        R.settle(store, B, "pair", "p4", [DETAIL], ADJ)
    s = R.settle(store, B, "pair", "p1", [DETAIL], ADJ, rationale="detail was visible")
    assert s.kind == "adjudication" and sorted(s.settles) == sorted(side["annotation_id"])
    assert R.adjudication_targets(store, B) == []
    # a later change of a reading reopens the pair
    a = R.readings(store, B, "p1", ADJ).iloc[1]
    w.save(Annotation(benchmark_id=B, target_type="pair", target_id="p1", tags=[IGNORED, DETAIL], reviewer="bob",
                      annotation_id=a["annotation_id"], revision=1), BOB)
    assert R.adjudication_targets(store, B) == ["p1"]
