"""Each page's logic through streamlit.testing.v1.AppTest (no browser): no page raises or shows an internal
error, filters change counts and the URL, deep links open the pair, a tag saved from Review is stored and
counted on Statistics, and a bad database gives a message instead of a traceback."""
from __future__ import annotations

import pathlib

import pytest

pytest.importorskip("streamlit.testing.v1")
from streamlit.testing.v1 import AppTest  # noqa: E402

from medviz.demo import SAMPLE_MC  # noqa: E402
from medviz.ui.navigation import EMBEDDINGS, ERRORS, REVIEW, SPECS, STATISTICS  # noqa: E402

APP = str(pathlib.Path(__file__).resolve().parents[1] / "app.py")
PAGES = list(SPECS)


@pytest.fixture
def app(demo_db, monkeypatch):
    monkeypatch.setenv("MEDVIZ_DB", demo_db)

    def make(**qp):
        at = AppTest.from_file(APP, default_timeout=60)
        for k, v in qp.items():
            at.query_params[k] = v
        return at
    return make


def assert_clean(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not [e.value for e in at.error if "Internal error" in e.value]


def texts(at) -> str:
    return "\n".join([m.value for m in at.markdown] + [m.value for m in at.caption] + [m.value for m in at.info]
                     + [m.value for m in at.warning] + [m.value for m in at.error])


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_errors(app, page):
    at = app().run()
    at.switch_page(SPECS[page].path).run()
    assert_clean(at)


def test_leaderboard_shows_models_with_intervals(app):
    at = app().run()
    assert_clean(at)
    table = at.dataframe[0].value
    assert "synthetic-freetext (hand-written) (synthetic)" in set(table["model"])
    assert table["Set accuracy"].str.contains(r"\[").all()


def test_errors_filter_changes_counts_and_url(app):
    at = app().run()
    at.switch_page(SPECS[ERRORS].path).run()
    before = {m.label: m.value for m in at.metric}
    at.multiselect(key="ef_modalities").select("CT").run()
    after = {m.label: m.value for m in at.metric}
    assert_clean(at)
    assert int(after["pairs / items"]) < int(before["pairs / items"])
    assert at.query_params["modalities"] == ["CT"] or at.query_params["modalities"] == "CT"
    at.selectbox(key="ef_outcome").select("confused").run()
    assert at.query_params["outcome"] in ("confused", ["confused"])


def test_errors_filter_is_read_from_the_url(app):
    at = app(outcome="confused", modalities="CT").run()
    at.switch_page(SPECS[ERRORS].path).run()
    assert_clean(at)
    assert at.selectbox(key="ef_outcome").value == "confused"
    assert at.multiselect(key="ef_modalities").value == ["CT"]


def test_deep_link_opens_the_pair(app):
    at = app(pair="s006", b=SAMPLE_MC).run()
    at.switch_page(SPECS[REVIEW].path).run()
    assert_clean(at)
    t = texts(at)
    assert "`s006`" in t and "rotated" in t


def test_unknown_pair_says_so(app):
    at = app(pair="zzz", b=SAMPLE_MC).run()
    at.switch_page(SPECS[REVIEW].path).run()
    assert_clean(at)
    assert any("no pair or item 'zzz'" in e.value for e in at.error)


def test_next_and_previous_move_through_pairs(app):
    at = app(pair="s002", b=SAMPLE_MC).run()
    at.switch_page(SPECS[REVIEW].path).run()
    at.button(key="nav_next").click().run()
    assert "`s003`" in texts(at)
    at.button(key="nav_prev").click().run()
    at.button(key="nav_prev").click().run()
    assert "`s001`" in texts(at)


def test_saving_a_tag_stores_it_and_statistics_count_it(app, demo_db):
    from medviz.annotations import current_annotations, load_taxonomy
    from medviz.ui import data
    at = app(pair="s007", b=SAMPLE_MC).run()
    at.switch_page(SPECS[REVIEW].path).run()
    at.sidebar.text_input(key="reviewer_name_input").input("Dr Test").run()
    assert_clean(at)
    key = f"{SAMPLE_MC}::s007"
    at.button(key=f"q0::{key}").click().run()              # quick tag 1
    at.text_area(key=f"why::{key}").input("missed the crop, comma, \"quote\"").run()
    at.session_state["advance_after_save"] = False
    at.button(key=f"save::{key}").click().run()
    assert_clean(at)
    tag = load_taxonomy().leaves()[0]
    mine = current_annotations(data.store(demo_db), SAMPLE_MC, reviewer="Dr Test")
    assert len(mine) == 1 and list(mine.iloc[0]["tags"]) == [tag] and mine.iloc[0]["target_id"] == "s007"
    at.switch_page(SPECS[STATISTICS].path).run()
    assert_clean(at)
    counts = at.dataframe[0].value.set_index("tag")["units tagged"]
    assert counts[tag] >= 1


def test_bad_database_gives_a_message(tmp_path, monkeypatch):
    bad = tmp_path / "not-a-db.duckdb"
    bad.write_text("this is not a database")
    monkeypatch.setenv("MEDVIZ_DB", str(bad))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert any("not-a-db.duckdb" in e.value for e in at.error)


def test_bad_upload_gives_a_message(app):
    at = app(b=SAMPLE_MC).run()
    at.get("file_uploader")[0].upload("preds.csv", b"item_id,model,prediction\nnot-an-item,m,A\n", "text/csv").run()
    at.button(key="pred_import").click().run()
    assert_clean(at)
    assert any("Could not import preds.csv" in e.value and "not-an-item" in e.value for e in at.error)


def test_database_in_use_says_by_whom(tmp_path, monkeypatch):
    """A second process holding the file: the app names the PID and what to do (no traceback)."""
    import subprocess
    import sys
    import time
    db = str(tmp_path / "locked.duckdb")
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('ok', flush=True); time.sleep(60)", db], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        monkeypatch.setenv("MEDVIZ_DB", db)
        at = AppTest.from_file(APP, default_timeout=60).run()
        assert not at.exception
        msg = " ".join(e.value for e in at.error)
        assert "Database in use" in msg and f"PID {holder.pid}" in msg
    finally:
        holder.kill()
        holder.wait()
        time.sleep(0.1)


def test_dicom_window_presets_and_missing_image_placeholder(tmp_path, monkeypatch):
    """A generic benchmark whose pair has a real DICOM CT slice and an image file that is absent."""
    import csv
    import shutil
    from pydicom.data import get_testdata_file
    from medviz.ingest import ingest_benchmark
    from medviz.store import Store
    shutil.copy(get_testdata_file("CT_small.dcm"), tmp_path / "ct.dcm")
    with open(tmp_path / "bench.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["item_id", "image_path", "pair_id", "slot", "question", "A", "B", "answer"])
        w.writeheader()
        w.writerow({"item_id": "d-1", "image_path": "ct.dcm", "pair_id": "d", "slot": 1, "question": "Which?",
                    "A": "CT", "B": "MR", "answer": "A"})
        w.writerow({"item_id": "d-2", "image_path": "gone.png", "pair_id": "d", "slot": 2, "question": "Which?",
                    "A": "CT", "B": "MR", "answer": "B"})
    db = str(tmp_path / "dicom.duckdb")
    with Store(db) as s:
        ingest_benchmark(s, str(tmp_path / "bench.csv"), benchmark_id="dicom-bench")
    monkeypatch.setenv("MEDVIZ_DB", db)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["pair"] = "d"
    at.run()
    at.switch_page(SPECS[REVIEW].path).run()
    assert_clean(at)
    # the missing image is a compact placeholder naming its path (the viewer's controls moved to vw_* keys)
    assert any("gone.png" in h.proto.body and "missing" in h.proto.body for h in at.get("html"))
    window = at.selectbox(key="vw_preset")
    window.select("Lung").run()
    assert_clean(at)
    assert at.selectbox(key="vw_preset").value == "Lung"


def test_statistics_breakdown_by_modality_and_model(app):
    at = app(b=SAMPLE_MC).run()
    at.switch_page(SPECS[STATISTICS].path).run()
    at.toggle(key="st_by_model").set_value(True).run()
    assert_clean(at)
    assert any("modality × model" in h.value for h in at.subheader)


# --- one implementation, tested where it runs: the map and the next-untagged queue the app really uses ------

@pytest.fixture(scope="module")
def embedded_db(tmp_path_factory):
    """A demo store with weight-free `pixels` embeddings, plus what the read models say the app must show
    (computed before the app opens the file)."""
    from medviz.cli import main
    from medviz.encoders import compute_embeddings, embedding_map
    from medviz.readmodels import errors, review
    from medviz.store import Store, core
    d = tmp_path_factory.mktemp("appemb")
    db = str(d / "demo.duckdb")
    assert main(["demo", "--db", db, "--out", str(d / "sd")]) == 0
    with Store(db) as s:
        compute_embeddings(s, SAMPLE_MC, "pixels")
        m = embedding_map(s, SAMPLE_MC, "pixels", "pca")
        models = list(core.models(s.cursor(), SAMPLE_MC)["model"])
        tagged = errors.annotation_index(s, SAMPLE_MC).units_with([], [])
        first = core.pairs(s.cursor(), SAMPLE_MC)["pair_id"].min()
        chain, cur = [], first
        for _ in range(3):
            cur = review.next_untagged_error(s, SAMPLE_MC, models, cur, tagged)
            chain.append(cur)
    return db, m, first, chain


def _numbers(v):
    import base64

    import numpy as np
    if isinstance(v, dict):         # plotly's typed-array encoding
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"])).tolist()
    return list(v)


def test_embeddings_page_draws_the_encoders_pca_map(embedded_db, monkeypatch):
    import json

    import numpy as np
    db, m, _, _ = embedded_db
    monkeypatch.setenv("MEDVIZ_DB", db)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["b"] = SAMPLE_MC
    at.run()
    at.switch_page(SPECS[EMBEDDINGS].path).run()
    assert_clean(at)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    drawn = {}
    for tr in spec["data"]:
        for i, x, y in zip(tr["customdata"], _numbers(tr["x"]), _numbers(tr["y"])):
            drawn[i[0] if isinstance(i, list) else i] = (x, y)
    want = m.set_index("item_id")[["x", "y"]]
    assert set(drawn) == set(want.index)
    got = np.array([drawn[i] for i in want.index])
    assert np.allclose(got, want.to_numpy(), atol=1e-4)      # the app draws encoders.embedding_map, nothing else


def test_next_untagged_key_follows_the_read_model_queue(embedded_db, monkeypatch):
    db, _, first, chain = embedded_db
    assert chain[0] is not None
    monkeypatch.setenv("MEDVIZ_DB", db)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["b"] = SAMPLE_MC
    at.query_params["pair"] = first
    at.run()
    at.switch_page(SPECS[REVIEW].path).run()
    assert f"`{first}`" in texts(at)
    for want in chain:
        at.button(key="nav_untagged").click().run()
        assert_clean(at)
        assert f"`{want}`" in texts(at)


def test_an_empty_database_says_how_to_load_one_for_the_file_and_under_medviz_serve(tmp_path, monkeypatch):
    """Opened as a file, the advice is the CLI on that file; under `medviz serve` (which owns the file, so
    `medviz demo --db` would be refused) it is the Data page and the CLI through the server."""
    from medviz import server
    from medviz.store import Store
    db = str(tmp_path / "empty.duckdb")
    Store(db).close()
    monkeypatch.setenv("MEDVIZ_DB", db)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert_clean(at)
    assert f"medviz demo --db {db}" in texts(at)
    monkeypatch.setattr(server, "current", lambda: object())
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert_clean(at)
    assert "Data" in texts(at) and "medviz demo" not in texts(at)
