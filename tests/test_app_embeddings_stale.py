"""The Embeddings page says when the map it shows is not the stored one: out of date in the store (vectors or
items changed since it was drawn: computed on this visit) or not stored yet, and how to store it again; a
fresh stored map gets no note. Through streamlit.testing.v1.AppTest on the demo store (SYNTHETIC predictions)
with weight-free ``pixels`` embeddings."""
from __future__ import annotations

import pathlib

import numpy as np
import pytest

pytest.importorskip("streamlit.testing.v1")
from streamlit.testing.v1 import AppTest  # noqa: E402

from medviz.demo import SAMPLE_MC  # noqa: E402
from medviz.ui.navigation import EMBEDDINGS, SPECS  # noqa: E402

APP = str(pathlib.Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(scope="module")
def demo_embedded(tmp_path_factory):
    from medviz.cli import main
    from medviz.encoders import compute_embeddings
    from medviz.store import Store
    d = tmp_path_factory.mktemp("appstale")
    db = str(d / "demo.duckdb")
    assert main(["demo", "--db", db, "--out", str(d / "sd")]) == 0
    with Store(db) as s:
        compute_embeddings(s, SAMPLE_MC, "pixels")
    return d, db


def _copy(demo_embedded, name):
    import shutil
    d, db = demo_embedded
    out = str(d / f"{name}.duckdb")
    shutil.copy(db, out)
    return out


def _page(db, monkeypatch):
    monkeypatch.setenv("MEDVIZ_DB", db)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["b"] = SAMPLE_MC
    at.run()
    at.switch_page(SPECS[EMBEDDINGS].path).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.get("plotly_chart"), "the map is drawn"
    return [i.value for i in at.info]


def test_a_fresh_stored_map_gets_no_note(demo_embedded, monkeypatch):
    infos = _page(_copy(demo_embedded, "fresh"), monkeypatch)
    assert not [i for i in infos if "map" in i], infos


def test_a_stale_map_says_it_is_out_of_date_and_how_to_refresh(demo_embedded, monkeypatch):
    from medviz.encoders import maps
    from medviz.store import Store
    from medviz.store import embeddings as sql
    db = _copy(demo_embedded, "stale")
    with Store(db) as s:                   # a new image content with a vector: the stored map is out of date
        digest = sql.stored_map_info(s.cursor(), SAMPLE_MC, "pixels", "pca")["weights_digest"]
        meta, vecs, _ = maps.vectors(s, SAMPLE_MC, "pixels")
        item = meta["item_id"].iloc[0]
        with s.transaction() as tx:
            tx.execute("UPDATE items SET image_sha256 = ? WHERE benchmark_id = ? AND item_id = ?",
                       ["d" * 64, SAMPLE_MC, item])
            sql.insert_embeddings(tx, "pixels", digest, ["d" * 64], np.ones((1, vecs.shape[1]), np.float32),
                                  decode="exact")
        assert maps.map_status(s, SAMPLE_MC, "pixels") == "stale"
    infos = _page(db, monkeypatch)
    note = [i for i in infos if "out of date" in i]
    assert len(note) == 1, infos
    assert "computed from the vectors" in note[0] and f"medviz embed {SAMPLE_MC} --encoder pixels" in note[0]


def test_no_stored_map_says_so(demo_embedded, monkeypatch):
    from medviz.store import Store
    db = _copy(demo_embedded, "nomap")
    with Store(db) as s, s.transaction() as tx:
        tx.execute("DELETE FROM embedding_maps")
        tx.execute("DELETE FROM embedding_map_points")
    infos = _page(db, monkeypatch)
    assert [i for i in infos if "No map is stored for this encoder yet" in i], infos
