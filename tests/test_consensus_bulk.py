"""A bulk tag keeps the materialised consensus exact in its own transaction (no reader has to sync after it):
its new single-revision units are written straight from its rows; targets it shares with earlier revisions,
targets named twice, and targets saved since the last sync are recomputed. Always equal to a full recompute."""
from __future__ import annotations

import random

import pandas as pd
import pytest

from medviz import auth
from medviz.annotations import Annotation, close_writer, failure_mode_stats, get_writer
from medviz.annotations.stats import sync_consensus
from medviz.errors import MedvizError
from medviz.store import consensus as csql

TAGS = ["Refusal", "Perceptual error/Detail missed", "Visual confusion/Image ignored", "Knowledge deficiency"]


@pytest.fixture
def w(store):
    yield get_writer(store)
    close_writer(store)


def _save(w, a: Annotation) -> Annotation:
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
                live.append(_save(w, Annotation(
                    "b", rng.choice(["item", "pair"]), f"t{rng.randrange(12)}", rng.sample(TAGS, rng.randint(1, 3)),
                    f"r{rng.randrange(3)}", model=rng.choice([None, "m1"]),
                    proposed_answer=rng.choice([None, None, "C"]))))
            elif op < 0.75:
                k = rng.randrange(len(live))
                live[k] = _save(w, live[k].edit(tags=rng.sample(TAGS, rng.randint(1, 2))))
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
    _save(w, Annotation("b", "item", "x", ["Refusal"], "r1"))
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
