"""The JPEG decode mode is part of a cached vector's key: ``medviz embed --exact-decode`` never reuses vectors of a
draft (reduced DCT scale) decode, nor the other way round, and stores made before the mode was recorded keep
working. A tiny random-init open_clip CLIP on generated (SYNTHETIC) JPEGs."""
from __future__ import annotations

import numpy as np
import pytest

from medviz import encoders as E
from medviz.encoders import embed, prep
from medviz.store import embeddings as sql

from test_encoders import generic_benchmark, tiny_clip

torch = pytest.importorskip("torch")
pytest.importorskip("open_clip")

pytestmark = pytest.mark.usefixtures("clean_encoders")


@pytest.fixture
def jpeg_bench(store, tmp_path):
    """Four 240 px JPEGs (large enough for a 32 px model to draft-decode them at half scale)."""
    from test_encoders_prep import smooth
    (tmp_path / "imgs").mkdir()
    for k in range(4):
        smooth(240, 240, seed=k).save(tmp_path / "imgs" / f"img{k}.jpg", quality=90)
    rows = [(f"i{k}", f"imgs/img{k}.jpg", f"p{k // 2}", k % 2 + 1, "A") for k in range(4)]
    return generic_benchmark(store, tmp_path, rows)


def _stored(store, bench, res):
    meta, vecs = sql.benchmark_embeddings(store.cursor(), bench, res.encoder_id, res.weights_digest,
                                          decode=res.decode)
    return dict(zip(meta["item_id"], vecs))


def test_exact_and_draft_vectors_are_cached_apart(store, jpeg_bench, tmp_path, monkeypatch):
    monkeypatch.delenv("MEDVIZ_EXACT_DECODE", raising=False)
    monkeypatch.delenv("MEDVIZ_DRAFT_GAP", raising=False)
    model, pre, tok = tiny_clip(seed=4)
    enc = E.register_model("tiny", model, pre, tok, device="cpu")
    draft = E.compute_embeddings(store, jpeg_bench, "tiny")                  # default: JPEG draft decoding
    assert (draft.n_new, draft.n_cached) == (4, 0)
    exact = E.compute_embeddings(store, jpeg_bench, "tiny", exact_decode=True)
    assert (exact.n_new, exact.n_cached) == (4, 0)                           # not served the draft vectors
    assert (draft.decode, exact.decode) == ("draft:2", "exact")
    assert E.compute_embeddings(store, jpeg_bench, "tiny", exact_decode=True).n_cached == 4
    assert E.compute_embeddings(store, jpeg_bench, "tiny").n_cached == 4      # the draft ones are still there
    monkeypatch.setenv("MEDVIZ_DRAFT_GAP", "1")                               # drafting harder: its own key
    assert E.compute_embeddings(store, jpeg_bench, "tiny").n_new == 4

    # each mode's vectors are what that decode gives: exact = open_clip's own preprocess of the full image
    got_exact, got_draft = _stored(store, jpeg_bench, exact), _stored(store, jpeg_bench, draft)
    direct = enc.encode_batch(torch.stack([pre(embed.open_native(str(tmp_path / "imgs" / f"img{k}.jpg")))
                                           for k in range(4)]))
    for k in range(4):
        assert np.allclose(got_exact[f"i{k}"], direct[k], atol=1e-5)
        assert not np.allclose(got_draft[f"i{k}"], direct[k], atol=1e-5)    # the draft decode changed pixels


def test_the_pixels_encoder_never_drafts_so_both_requests_share_its_vectors(store, jpeg_bench):
    first = E.compute_embeddings(store, jpeg_bench, "pixels")
    assert first.n_new == 4
    assert E.compute_embeddings(store, jpeg_bench, "pixels", exact_decode=True).n_cached == 4
    assert first.decode == prep.EXACT


def test_readers_use_the_mode_with_most_vectors(store, jpeg_bench, monkeypatch):
    """The map, neighbours and pair cosines read one consistent set of vectors, and say which."""
    monkeypatch.delenv("MEDVIZ_EXACT_DECODE", raising=False)
    monkeypatch.delenv("MEDVIZ_DRAFT_GAP", raising=False)
    model, pre, tok = tiny_clip(seed=4)
    E.register_model("tiny", model, pre, tok, device="cpu")
    E.compute_embeddings(store, jpeg_bench, "tiny", exact_decode=True)
    m = E.embedding_map(store, jpeg_bench, "tiny")
    assert set(m["decode"]) == {"exact"} and len(m) == 4
    ex = E.explain_pair(store, jpeg_bench, "p0", "tiny")
    exact_vecs = sql.vectors_for_hashes(store.cursor(), "tiny", ex.weights_digest,
                                        list(m["image_sha256"][:2]), decode="exact")
    assert ex.provenance["decode"] == "exact"
    assert ex.encoder_cosine == pytest.approx(float(np.dot(*exact_vecs.values())), abs=1e-6)


def test_a_store_from_before_the_decode_mode_keeps_its_vectors(tmp_path):
    """Opening a store whose embeddings schema is at v2 adds the column: the pixels encoder's vectors are
    exact (it never drafts), other encoders' are 'unknown' (not recorded) and are still read."""
    import duckdb

    from medviz.store import Store
    path = str(tmp_path / "old.duckdb")
    con = duckdb.connect(path)
    con.execute("CREATE TABLE schema_version (component VARCHAR PRIMARY KEY, version INTEGER)")
    for step in sql.MIGRATIONS[:2]:
        for stmt in [s for s in step.split(";") if s.strip()]:
            con.execute(stmt)
    con.execute("INSERT INTO schema_version VALUES ('embeddings', 2)")
    for enc, h in (("pixels", "a" * 64), ("biomedclip", "b" * 64)):
        con.execute("INSERT INTO embeddings VALUES (?, 'sha256:w', ?, 2, [1.0, 0.0], now())", [enc, h])
    con.execute("INSERT INTO embed_runs VALUES ('b', 'biomedclip', 'sha256:w', 'hf', 'cpu', 1, 0, 0, 0, NULL, now())")
    con.close()
    with Store(path) as s:
        assert s.schema_versions()["embeddings"] == len(sql.MIGRATIONS)
        rows = s.cursor().execute("SELECT encoder_id, decode FROM embeddings ORDER BY encoder_id").fetchall()
        assert rows == [("biomedclip", "unknown"), ("pixels", "exact")]
        assert sql.runs(s.cursor())["decode"].tolist() == ["unknown"]
        got = sql.vectors_for_hashes(s.cursor(), "biomedclip", "sha256:w", ["b" * 64], decode="unknown")
        assert got["b" * 64].tolist() == [1.0, 0.0]
        assert sql.vectors_for_hashes(s.cursor(), "biomedclip", "sha256:w", ["b" * 64], decode="draft:2") == {}
        with s.transaction() as tx:       # a new run of the same weights adds its own vectors beside them
            assert sql.insert_embeddings(tx, "biomedclip", "sha256:w", ["b" * 64], np.ones((1, 2), np.float32),
                                         decode="draft:2") == 1


def test_the_embed_job_takes_the_decode_mode(store, jpeg_bench, monkeypatch):
    """POST /benchmarks/{id}/embeddings {"exact_decode": true} reaches the pipeline (the job's params)."""
    from medviz.jobs import JobRunner
    monkeypatch.delenv("MEDVIZ_EXACT_DECODE", raising=False)
    monkeypatch.delenv("MEDVIZ_DRAFT_GAP", raising=False)
    model, pre, tok = tiny_clip(seed=4)
    E.register_model("tiny", model, pre, tok, device="cpu")
    runner = JobRunner(store, workers=1)
    try:
        exact = runner.wait(runner.submit("embed", {"benchmark_id": jpeg_bench, "encoder": "tiny",
                                                    "exact_decode": True}), timeout=120)
        draft = runner.wait(runner.submit("embed", {"benchmark_id": jpeg_bench, "encoder": "tiny"}), timeout=120)
    finally:
        runner.close()
    assert exact["state"] == draft["state"] == "done", (exact, draft)
    assert (exact["result"]["decode"], exact["result"]["n_new"]) == ("exact", 4)
    assert (draft["result"]["decode"], draft["result"]["n_new"]) == ("draft:2", 4)
