"""The consensus is kept off the save path (synced on read, incrementally; a bulk tag keeps it exact in its own
transaction) and must always equal a full recompute; batch saves are one transaction, all or nothing."""
from __future__ import annotations

import random

import pandas as pd
import pytest

from medviz.annotations import (Annotation, close_writer, consensus, current_annotations,
                                failure_mode_stats, get_writer)
from medviz import auth
from medviz.annotations.stats import sync_consensus
from medviz.errors import MedvizError
from medviz.store import annotations as sql
from medviz.store import consensus as csql

TAGS = ["Refusal", "Perceptual error/Detail missed", "Visual confusion/Image ignored", "Knowledge deficiency"]


@pytest.fixture
def w(store):
    yield get_writer(store)
    close_writer(store)


def save(w, a):
    """Save ``a`` signed in as its own reviewer (local mode)."""
    return w.save(a, auth.local(a.reviewer))


def _materialised(store) -> pd.DataFrame:
    return store.cursor().execute("SELECT * FROM annotation_consensus ORDER BY unit").df()


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    def norm(df):
        df = df.copy()
        for c in ("tags", "proposed_answers"):
            df[c] = df[c].map(list)
        df["model"] = df["model"].astype(object).where(df["model"].notna(), None)
        return df.sort_values("unit").reset_index(drop=True)
    pd.testing.assert_frame_equal(norm(a), norm(b), check_dtype=False)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_incremental_consensus_equals_full_recompute_on_random_histories(store, w, seed):
    rng = random.Random(seed)
    live: list[Annotation] = []
    judge = auth.local("eve", adjudicators=["eve"])
    for step in range(160):
        op = rng.random()
        if op < 0.45 or not live:
            a = save(w, Annotation("b", rng.choice(["item", "pair"]), f"t{rng.randrange(8)}",
                                  rng.sample(TAGS, rng.randint(1, 3)), f"r{rng.randrange(4)}",
                                  model=rng.choice([None, "m1", "m2"])))
            live.append(a)
        elif op < 0.7:
            k = rng.randrange(len(live))
            live[k] = save(w, live[k].edit(tags=rng.sample(TAGS, rng.randint(1, 3))))
        elif op < 0.8:
            a = live.pop(rng.randrange(len(live)))
            w.retract(a.annotation_id, auth.local(a.reviewer))
        elif op < 0.88:
            base = rng.choice(live)
            w.adjudicate(base.edit(annotation_id=None, revision=None, tags=rng.sample(TAGS, 1)), judge,
                         settles=[base.annotation_id])
        else:                       # a batch of several saves in one transaction
            live += w.save_many([Annotation("b", "item", f"t{rng.randrange(8)}", [rng.choice(TAGS)],
                                            f"r{rng.randrange(4)}") for _ in range(rng.randint(2, 5))],
                                 auth.file_owner())     # an admin adds them under the reviewers' names
        if rng.random() < 0.15:     # readers sync at random points: the increments must add up
            sync_consensus(store)
            _same(_materialised(store), csql.full_consensus(store.cursor()))
    assert sync_consensus(store) >= 0
    _same(_materialised(store), csql.full_consensus(store.cursor()))
    assert sync_consensus(store) == 0          # nothing new: no work


@pytest.mark.parametrize("seed", [5, 6])
def test_single_revision_units_and_the_rest_equal_the_full_recompute(store, w, seed):
    """Most units of a tagging pass have one revision (written by one grouping); the others (edited,
    retracted, several reviewers, adjudicated, proposed answers) by the full query: together, the full recompute."""
    rng = random.Random(seed)
    judge = auth.local("eve", adjudicators=["eve"])
    for step in range(120):
        a = save(w, Annotation("b", rng.choice(["item", "pair"]), f"t{rng.randrange(60)}",
                              rng.sample(TAGS, rng.randint(1, 3)), f"r{rng.randrange(3)}",
                              model=rng.choice([None, "m1"]), proposed_answer=rng.choice([None, None, "B"])))
        r = rng.random()
        if r < 0.05:
            w.retract(a.annotation_id, auth.local(a.reviewer))
        elif r < 0.1:
            save(w, a.edit(tags=[rng.choice(TAGS)]))
        elif r < 0.13:
            w.adjudicate(a.edit(annotation_id=None, revision=None, tags=[rng.choice(TAGS)]), judge,
                         settles=[a.annotation_id])
        if rng.random() < 0.1:
            sync_consensus(store)
            _same(_materialised(store), csql.full_consensus(store.cursor()))
    w.tag_targets("b", "item", [f"bulk{k}" for k in range(50)], [TAGS[2], TAGS[0]], auth.local("bulk-reviewer"))
    sync_consensus(store)
    got = _materialised(store)
    _same(got, csql.full_consensus(store.cursor()))
    one = got[got["target_id"] == "bulk0"].iloc[0]
    assert list(one["tags"]) == sorted([TAGS[2], TAGS[0]]) and one["n_reviewers"] == 1 and not one["adjudicated"]


def test_a_save_does_not_touch_the_consensus_and_a_read_brings_it_up_to_date(store, w):
    a = save(w, Annotation("b", "item", "x", ["Refusal"], "r1"))
    synced, newest = csql.consensus_lag(store.cursor())
    assert newest > synced                     # the save left the consensus for the next reader
    c = consensus(store, "b")
    assert list(c["tags"]) == [["Refusal"]]
    assert csql.consensus_lag(store.cursor())[0] == csql.consensus_lag(store.cursor())[1]
    w.retract(a.annotation_id, auth.local("r1"))
    assert failure_mode_stats(store, "b", by=("model",)).empty
    assert consensus(store, "b").empty


def test_save_many_is_one_transaction_in_order(store, w):
    batches_before = w.stats["batches"]
    bulk = auth.local("bulk")
    out = w.save_many([Annotation("b", "item", f"i{k}", ["Refusal"], "bulk") for k in range(300)], bulk)
    assert [a.target_id for a in out] == [f"i{k}" for k in range(300)]
    assert all(a.revision == 1 and a.annotation_id for a in out)
    assert w.stats["batches"] == batches_before + 1
    assert len(current_annotations(store, "b")) == 300
    assert sql.rev_id_summary(store.cursor()) == (300, 1, 300)
    # edits in a batch build on the saved revisions
    again = w.save_many([a.edit(confidence=5) for a in out[:10]], bulk)
    assert {a.revision for a in again} == {2}


def test_save_many_is_all_or_nothing(store, w):
    good = save(w, Annotation("b", "item", "keep", ["Refusal"], "alice"))
    with pytest.raises(MedvizError, match="unknown tag"):
        w.save_many([Annotation("b", "item", "a", ["Refusal"], "bob"), Annotation("b", "item", "b", ["Nope"], "bob")],
                    auth.local("bob"))
    with pytest.raises(MedvizError):        # bob may not edit alice's annotation: the whole list fails
        w.save_many([Annotation("b", "item", "c", ["Refusal"], "bob"), good.edit(reviewer="bob")], auth.local("bob"))
    assert list(current_annotations(store, "b")["target_id"]) == ["keep"]
    nxt = save(w, Annotation("b", "item", "next", ["Refusal"], "bob"))   # rev ids stay dense after the failure
    assert nxt.revision == 1 and sql.rev_id_summary(store.cursor()) == (2, 1, 2)
    assert w.save_many([], auth.local("bob")) == []


def test_tag_targets_saves_one_annotation_per_target_in_one_transaction(store, w):
    save(w, Annotation("b", "item", "before", ["Refusal"], "alice"))
    batches = w.stats["batches"]
    ids = w.tag_targets("b", "item", [f"i{k}" for k in range(500)], ["Visual confusion/Image ignored"],
                        auth.local("bulk"),
                        model="m1", rationale="same reason", confidence=4)
    assert len(ids) == len(set(ids)) == 500 and w.stats["batches"] == batches + 1
    cur = current_annotations(store, "b")
    bulk = cur[cur["reviewer"] == "bulk"].set_index("annotation_id").loc[ids]
    assert list(bulk["target_id"]) == [f"i{k}" for k in range(500)]
    assert set(bulk["revision"]) == {1} and set(bulk["confidence"]) == {4} and set(bulk["model"]) == {"m1"}
    assert all(t == ["Visual confusion/Image ignored"] for t in bulk["tags"])
    assert sql.rev_id_summary(store.cursor()) == (501, 1, 501) and sql.revision_gaps(store.cursor()) == 0
    # a bulk-made annotation is edited like any other; the consensus sees all of them
    from medviz.annotations import Annotation as A
    first = A.from_row(bulk.reset_index().iloc[0])
    assert save(w, first.edit(tags=["Refusal"])).revision == 2
    sync_consensus(store)
    _same(_materialised(store), csql.full_consensus(store.cursor()))
    assert len(consensus(store, "b")) == 501


def test_tag_targets_checks_once_and_is_all_or_nothing(store, w):
    with pytest.raises(MedvizError, match="unknown tag"):
        w.tag_targets("b", "item", ["a", "b"], ["Not a tag"], auth.local("bulk"))
    with pytest.raises(MedvizError, match="target id #2"):
        w.tag_targets("b", "item", ["a", " "], ["Refusal"], auth.local("bulk"))
    with pytest.raises(MedvizError, match="target_type"):
        w.tag_targets("b", "cell", ["a"], ["Refusal"], auth.local("bulk"))
    assert current_annotations(store, "b").empty and w.tag_targets("b", "item", [], ["Refusal"], auth.local("x")) == []


def test_bulk_calls_have_a_size_bound(store, w, monkeypatch):
    from medviz.annotations import writer as wmod
    monkeypatch.setattr(wmod, "MAX_BULK", 3)
    with pytest.raises(MedvizError, match="at most 3"):
        w.tag_targets("b", "item", ["a", "b", "c", "d"], ["Refusal"], auth.local("bulk"))
    with pytest.raises(MedvizError, match="at most 3"):
        w.save_many([Annotation("b", "item", f"i{k}", ["Refusal"], "r") for k in range(4)], auth.local("r"))
    assert current_annotations(store, "b").empty


def test_closing_the_writer_leaves_the_consensus_complete(tmp_path):
    from medviz.store import Store
    path = str(tmp_path / "c.duckdb")
    s = Store(path)
    get_writer(s).save(Annotation("b", "item", "x", ["Refusal"], "r1"), auth.local("r1"))
    close_writer(s)
    s.close()
    with Store(path, read_only=True) as ro:              # a read-only reader finds it up to date
        synced, newest = csql.consensus_lag(ro.cursor())
        assert synced == newest and list(consensus(ro, "b")["tags"]) == [["Refusal"]]


# --- a bulk tag keeps the consensus exact in its own transaction (no reader has to sync after it): its new
# single-revision units straight from its rows; targets it shares with earlier revisions, targets named twice and
# targets saved since the last sync recomputed. Always equal to a full recompute.

def _synced(store) -> bool:
    synced, newest = csql.consensus_lag(store.cursor())
    return synced == newest


@pytest.mark.parametrize("seed", [11, 12, 13, 14, 15, 16])
def test_a_bulk_tag_leaves_the_consensus_exact_without_a_reader_sync(store, w, seed):
    rng = random.Random(seed)
    judge = auth.local("eve", adjudicators=["eve"])
    live: list[Annotation] = []
    for _round in range(4):
        for _ in range(rng.randint(0, 20)):        # single saves, edits, retractions, adjudications: left unsynced
            op = rng.random()
            if op < 0.55 or not live:
                live.append(save(w, Annotation(
                    "b", rng.choice(["item", "pair"]), f"t{rng.randrange(12)}", rng.sample(TAGS, rng.randint(1, 3)),
                    f"r{rng.randrange(3)}", model=rng.choice([None, "m1"]),
                    proposed_answer=rng.choice([None, None, "C"]))))
            elif op < 0.75:
                k = rng.randrange(len(live))
                live[k] = save(w, live[k].edit(tags=rng.sample(TAGS, rng.randint(1, 2))))
            elif op < 0.88:
                a = live.pop(rng.randrange(len(live)))
                w.retract(a.annotation_id, auth.local(a.reviewer))
            else:
                base = rng.choice(live)
                w.adjudicate(base.edit(annotation_id=None, revision=None, tags=rng.sample(TAGS, 1)), judge,
                             settles=[base.annotation_id])
        if rng.random() < 0.3:
            sync_consensus(store)                  # sometimes a reader synced in between
        # targets old and new, some named twice, as items or pairs, for one model or all models
        ids = [f"t{rng.randrange(12)}" for _ in range(rng.randint(1, 6))] + [f"new{_round}-{k}" for k in range(8)]
        ids += rng.sample(ids, 2)
        w.tag_targets("b", rng.choice(["item", "pair"]), ids, rng.sample(TAGS, rng.randint(1, 2)),
                      auth.local(f"bulk{rng.randrange(2)}"), model=rng.choice([None, "m1"]),
                      proposed_answer=rng.choice([None, "D"]))
        assert _synced(store)                      # the bulk tag synced everything up to itself
        _same(_materialised(store), csql.full_consensus(store.cursor()))
    assert sync_consensus(store) == 0              # nothing left for a reader


def test_bulk_tag_on_a_fresh_store_and_after_a_synced_one(store, w):
    w.tag_targets("b", "item", [f"i{k}" for k in range(30)], [TAGS[0], TAGS[2], TAGS[0]], auth.local("r1"))
    assert _synced(store)
    got = _materialised(store)
    assert len(got) == 30 and all(list(t) == sorted([TAGS[0], TAGS[2]]) for t in got["tags"])
    assert set(got["n_reviewers"]) == {1} and not got["adjudicated"].any()
    # a second reviewer on half of them: those become two-reviewer units (tags at least half applied)
    w.tag_targets("b", "item", [f"i{k}" for k in range(0, 30, 2)], [TAGS[1]], auth.local("r2"))
    assert _synced(store)
    _same(_materialised(store), csql.full_consensus(store.cursor()))
    two = _materialised(store).set_index("target_id").loc["i0"]
    assert two["n_reviewers"] == 2 and list(two["tags"]) == sorted([TAGS[0], TAGS[1], TAGS[2]])
    st = failure_mode_stats(store, "b", by=("target_type",))
    assert dict(zip(st["tag"], st["count"])) == {TAGS[0]: 30, TAGS[1]: 15, TAGS[2]: 30}


def test_a_failed_bulk_tag_leaves_revisions_and_consensus_as_they_were(store, w, monkeypatch):
    save(w, Annotation("b", "item", "x", ["Refusal"], "r1"))
    before = _materialised(store), csql.consensus_lag(store.cursor())

    def boom(*a, **k):
        raise RuntimeError("disk full")
    monkeypatch.setattr(csql, "finish_bulk_tag", boom)
    with pytest.raises(MedvizError, match="disk full"):
        w.tag_targets("b", "item", ["x", "y"], ["Refusal"], auth.local("r2"))
    cur = store.cursor()
    assert cur.execute("SELECT count(*) FROM annotation_revisions").fetchall()[0][0] == 1
    _same(_materialised(store), before[0])
    assert csql.consensus_lag(cur) == before[1]
