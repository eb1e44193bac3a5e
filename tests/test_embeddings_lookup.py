"""A pair's cached vectors are a point lookup (the Review page's encoder panel asks for two at a time): the
query ``vectors_for_hashes`` runs is planned as an index scan on ``image_sha256``, not a scan of every vector
(speed itself is measured in bench/embed_lookup.py, not here). SYNTHETIC vectors."""
from __future__ import annotations

import numpy as np

from medviz.store import embeddings as sql


class _Spy:
    """A cursor that records what it is asked to run."""

    def __init__(self, cur):
        self.cur, self.calls = cur, []

    def execute(self, query, params=None):
        self.calls.append((query, params))
        return self.cur.execute(query, params)

    def sql(self, query, params=None):
        self.calls.append((query, params))
        return self.cur.sql(query, params=params)


def test_a_pair_lookup_is_an_index_scan_and_returns_only_its_key(store):
    n = 70_000                                 # two encoders: more rows than one row group
    hashes = [f"{i:064x}" for i in np.random.default_rng(0).permutation(n)]
    vecs = np.random.default_rng(1).standard_normal((n, 2)).astype(np.float32)
    with store.transaction() as tx:
        sql.insert_embeddings(tx, "enc-a", "w1", hashes, vecs, decode="exact")
        sql.insert_embeddings(tx, "enc-b", "w1", hashes, vecs + 1, decode="exact")
        sql.insert_embeddings(tx, "enc-a", "w1", hashes[:10], vecs[:10] + 2, decode="draft:2")
    spy = _Spy(store.cursor())
    want = [hashes[5], hashes[60_000]]
    got = sql.vectors_for_hashes(spy, "enc-a", "w1", want + [want[0], "0" * 63 + "z"], decode="exact")
    assert sorted(got) == sorted(want)
    assert np.array_equal(got[hashes[5]], vecs[5]) and np.array_equal(got[hashes[60_000]], vecs[60_000])
    assert sql.vectors_for_hashes(store.cursor(), "enc-a", "w1", [hashes[5]], decode="draft:2")[hashes[5]].tolist() \
        == (vecs[5] + 2).tolist()
    assert sql.vectors_for_hashes(store.cursor(), "enc-a", "w1", [], decode="exact") == {}
    query, params = spy.calls[-1]
    plan = "\n".join(r[1] for r in store.cursor().execute("EXPLAIN ANALYZE " + query, params).fetchall())
    assert "Index Scan" in plan and "Sequential Scan" not in plan, plan
