"""The Embeddings page's 2-D map is computed when the vectors change (the end of ``compute_embeddings``:
``medviz embed`` and the embed job) and stored; the page's read model reads it, and a map whose vectors or
items changed since is detected as stale and not served (issue 14). Weight-free ``pixels`` encoder on small
generated (SYNTHETIC) images."""
from __future__ import annotations

import numpy as np
import pytest

from medviz import encoders as E
from medviz.encoders import maps
from medviz.readmodels import embeddings as rm
from medviz.store import embeddings as sql

from test_encoders import generic_benchmark, make_images

pytestmark = pytest.mark.usefixtures("clean_encoders")


@pytest.fixture
def bench(store, tmp_path):
    make_images(tmp_path / "imgs", n=6, size=48)
    rows = [(f"i{k}", f"imgs/img{k}.png", f"p{k // 2}", k % 2 + 1, "A") for k in range(6)]
    return generic_benchmark(store, tmp_path, rows)


def _no_layout(monkeypatch):
    """Make computing a layout from the vectors fail: a read that succeeds read the stored map."""
    def boom(*a, **k):
        raise AssertionError("the map was computed from the vectors instead of read from the store")
    monkeypatch.setattr(maps, "_layout", boom)


def test_embed_stores_the_map_and_the_page_reads_it(store, bench, monkeypatch):
    E.compute_embeddings(store, bench, "pixels")
    info = sql.stored_map_info(store.cursor(), bench, "pixels", "pca")
    assert info is not None and info["n_points"] == 6
    assert maps.map_status(store, bench, "pixels") == "fresh"
    # what the store holds is the layout of the vectors (same numbers as computing it now)
    meta, xy, _ = maps._layout(store, bench, "pixels", "pca")
    _no_layout(monkeypatch)
    m = maps.embedding_map(store, bench, "pixels", "pca")
    assert m.attrs["map"] == "stored"
    assert list(m["item_id"]) == list(meta["item_id"])
    assert np.allclose(m[["x", "y"]].to_numpy(), xy.astype(float))
    assert {"pair_id", "slot", "modality", "answer", "categories", "image_sha256", "partner_item_id", "encoder_id",
            "weights_digest", "method"} <= set(m.columns)
    assert dict(zip(m["item_id"], m["partner_item_id"]))["i0"] == "i1"
    # the page's read model (the Embeddings page) is served from the stored map too
    df = rm.embedding_frame(store, bench, "pixels", None, "pca")
    assert len(df) == 6 and {"correctness", "tag", "encoder_blind"} <= set(df.columns)


def test_re_embedding_after_the_images_changed_refreshes_the_map(store, bench, tmp_path, monkeypatch):
    E.compute_embeddings(store, bench, "pixels")
    before = maps.embedding_map(store, bench, "pixels", "pca")
    # the benchmark is ingested again with two more items, one of them a new image: the old map described the
    # replaced benchmark and is deleted with it (the same transaction as the rest of the replace)
    make_images(tmp_path / "more", n=1, seed=7, size=48)
    rows = [(f"i{k}", f"imgs/img{k}.png", f"p{k // 2}", k % 2 + 1, "A") for k in range(6)]
    rows += [("new", "more/img0.png", None, None, "A"), ("dup", "imgs/img0.png", None, None, "A")]
    generic_benchmark(store, tmp_path, rows)
    assert maps.map_status(store, bench, "pixels") == "missing"
    stale = maps.embedding_map(store, bench, "pixels", "pca")          # not served from the stale map
    assert stale.attrs["map"] == "computed" and len(stale) == 7        # "new" has no vector yet
    # re-embedding embeds the new image and stores a fresh map of all eight items
    res = E.compute_embeddings(store, bench, "pixels")
    assert res.n_new == 1
    assert maps.map_status(store, bench, "pixels") == "fresh"
    assert sql.stored_map_info(store.cursor(), bench, "pixels", "pca")["n_points"] == 8
    _no_layout(monkeypatch)
    after = maps.embedding_map(store, bench, "pixels", "pca")
    assert after.attrs["map"] == "stored" and len(after) == 8 and len(before) == 6
    assert {"new", "dup"} <= set(after["item_id"])


def test_new_vectors_without_a_new_run_make_the_map_stale(store, bench):
    """Vectors that arrive another way (pushed to the server) change the fingerprint: the map is recomputed
    on read, never served stale."""
    E.compute_embeddings(store, bench, "pixels")
    digest = sql.stored_map_info(store.cursor(), bench, "pixels", "pca")["weights_digest"]
    dim = maps.vectors(store, bench, "pixels")[1].shape[1]
    sha = "f" * 64
    with store.transaction() as tx:        # an item re-pointed at another content that has a vector
        tx.execute("UPDATE items SET image_sha256 = ? WHERE item_id = 'i5'", [sha])
        sql.insert_embeddings(tx, "pixels", digest, [sha], np.ones((1, dim), np.float32), decode="exact")
    assert maps.map_status(store, bench, "pixels") == "stale"
    assert maps.embedding_map(store, bench, "pixels", "pca").attrs["map"] == "computed"
    assert maps.refresh_map(store, bench, "pixels") is True
    assert maps.refresh_map(store, bench, "pixels") is False          # fresh: nothing to do
    assert maps.embedding_map(store, bench, "pixels", "pca").attrs["map"] == "stored"


def test_the_embed_job_stores_the_map_through_the_writer(store, bench, monkeypatch):
    from medviz.jobs import JobRunner
    runner = JobRunner(store, workers=1)
    try:
        job = runner.wait(runner.submit("embed", {"benchmark_id": bench, "encoder": "pixels"}), timeout=120)
    finally:
        runner.close()
    assert job["state"] == "done", job
    assert maps.map_status(store, bench, "pixels") == "fresh"
    _no_layout(monkeypatch)
    assert maps.embedding_map(store, bench, "pixels", "pca").attrs["map"] == "stored"


def test_deleting_a_benchmark_deletes_its_stored_maps_in_the_same_transaction(store, bench, tmp_path):
    """``core.delete_benchmark`` (what replacing a benchmark runs) takes its embedding_maps and
    embedding_map_points rows with it, and a rolled-back delete keeps them; other benchmarks' maps stay."""
    from medviz.store import core
    make_images(tmp_path / "other", n=4, seed=3, size=48)
    other = generic_benchmark(store, tmp_path, [(f"o{k}", f"other/img{k}.png", None, None, "A") for k in range(4)],
                              bench_id="other")
    E.compute_embeddings(store, bench, "pixels")
    E.compute_embeddings(store, other, "pixels")

    def counts(b):
        return tuple(store.cursor().execute(f"SELECT count(*) FROM {t} WHERE benchmark_id = ?", [b]).fetchall()[0][0]
                     for t in ("embedding_maps", "embedding_map_points"))
    assert counts(bench) == (1, 6) and counts(other) == (1, 4)
    with pytest.raises(RuntimeError):
        with store.transaction() as tx:
            core.delete_benchmark(tx, bench)
            assert tuple(tx.execute(f"SELECT count(*) FROM {t} WHERE benchmark_id = ?", [bench]).fetchall()[0][0]
                         for t in ("embedding_maps", "embedding_map_points")) == (0, 0)
            raise RuntimeError("a failed replace rolls back")
    assert counts(bench) == (1, 6)
    with store.transaction() as tx:
        core.delete_benchmark(tx, bench)
    assert counts(bench) == (0, 0) and counts(other) == (1, 4)
    assert maps.map_status(store, other, "pixels") == "fresh"


def _make_stale(store, bench):
    digest = sql.stored_map_info(store.cursor(), bench, "pixels", "pca")["weights_digest"]
    dim = maps.vectors(store, bench, "pixels")[1].shape[1]
    with store.transaction() as tx:        # an item re-pointed at another content that has a vector
        tx.execute("UPDATE items SET image_sha256 = ? WHERE item_id = 'i5'", ["e" * 64])
        sql.insert_embeddings(tx, "pixels", digest, ["e" * 64], np.ones((1, dim), np.float32), decode="exact")
    assert maps.map_status(store, bench, "pixels") == "stale"


def test_a_burst_of_pushed_batches_redraws_the_map_once_through_the_writer(store, bench, monkeypatch):
    import time

    from medviz import writer
    E.compute_embeddings(store, bench, "pixels")
    _make_stale(store, bench)
    drawn, done, through_writer = [], [], []
    real_refresh, real_write = maps.refresh_map, writer.execute_write_fn
    monkeypatch.setattr(maps, "refresh_map", lambda st, *a, **k: drawn.append(a) or real_refresh(st, *a, **k))
    monkeypatch.setattr(writer, "execute_write_fn", lambda *a, **k: through_writer.append(1) or real_write(*a, **k))
    for _ in range(5):                      # five batches in a row: one redraw after the last
        maps.schedule_refresh(store, bench, "pixels", delay=0.3, on_done=lambda: done.append(1))
        time.sleep(0.05)
    deadline = time.monotonic() + 30
    while not done:
        assert time.monotonic() < deadline, "no redraw"
        time.sleep(0.05)
    assert maps.flush_refreshes(store, timeout=30)
    assert drawn == [(bench, "pixels")] and done == [1] and through_writer
    assert maps.map_status(store, bench, "pixels") == "fresh"


def test_flush_runs_a_pending_redraw_now(store, bench):
    E.compute_embeddings(store, bench, "pixels")
    _make_stale(store, bench)
    maps.schedule_refresh(store, bench, "pixels", delay=600)
    assert maps.flush_refreshes(store, timeout=30)
    assert maps.map_status(store, bench, "pixels") == "fresh"


def test_vectors_arriving_while_the_map_is_drawn_leave_it_stale_not_fresh_with_points_missing(store, bench,
                                                                                               monkeypatch):
    E.compute_embeddings(store, bench, "pixels")
    real = maps.vectors

    def push_meanwhile(*a, **k):          # read the vectors, then a pushed batch lands before the map is stored
        out = real(*a, **k)
        with store.transaction() as tx:
            tx.execute("UPDATE items SET image_sha256 = ? WHERE item_id = 'i5'", ["c" * 64])
            sql.insert_embeddings(tx, "pixels", out[2][0], ["c" * 64], np.ones((1, out[1].shape[1]), np.float32),
                                  decode=out[2][1])
        return out
    monkeypatch.setattr(maps, "vectors", push_meanwhile)
    assert maps.refresh_map(store, bench, "pixels", force=True) is True
    monkeypatch.setattr(maps, "vectors", real)
    assert maps.map_status(store, bench, "pixels") == "stale"       # the drawn map lacks i5's new image
    assert maps.refresh_map(store, bench, "pixels") is True
    assert maps.map_status(store, bench, "pixels") == "fresh"
