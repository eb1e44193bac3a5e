"""Issue 11: the app shows why an image cannot be shown (the reason found at ingest) in the image's place,
and the Errors page filters "image problems"."""
import pandas as pd
import pytest

from medviz.ingest import import_predictions, ingest_benchmark
from medviz.readmodels.errors import ErrorFilter, error_page
from medviz.readmodels.review import unit_view

from .conftest import jpeg, png_bomb


@pytest.fixture
def bad_images(store, write_csv, tmp_path):
    p = write_csv([("ok-1", "images/a.jpg"), ("ok-2", "images/a.jpg"), ("bad-1", "images/bomb.png"),
                   ("bad-2", "images/a.jpg"), ("gone-1", "images/nope.jpg"), ("gone-2", "images/a.jpg")],
                  {"a.jpg": jpeg(), "bomb.png": png_bomb()})
    df = pd.read_csv(p)
    df["pair_id"] = [i.split("-")[0] for i in df["item_id"]]
    df["slot"] = [int(i.split("-")[1]) for i in df["item_id"]]
    df.to_csv(p, index=False)
    ingest_benchmark(store, p, benchmark_id="gen")
    preds = tmp_path / "preds.csv"
    pd.DataFrame({"item_id": df["item_id"], "model": "m", "prediction": "B"}).to_csv(preds, index=False)
    import_predictions(store, "gen", str(preds))
    return store


def test_errors_filter_image_problems(bad_images):
    f = ErrorFilter(outcome=None, image_problems=True)
    rows, counts = error_page(bad_images, "gen", None, f)
    assert sorted(rows["unit_id"]) == ["bad", "gone"] and counts["units"] == 2
    rows, _ = error_page(bad_images, "gen", None, ErrorFilter(outcome=None))
    assert sorted(rows["unit_id"]) == ["bad", "gone", "ok"]
    assert f.to_query() == {"outcome": "all", "images": "problems"}
    assert ErrorFilter.from_query(f.to_query()) == f


def test_review_slot_carries_the_reason_and_the_viewer_shows_it(bad_images):
    from medviz.ui.pair_viewer import placeholder_html
    uv = unit_view(bad_images, "gen", "bad")
    s1, s2 = uv.slots
    assert s1.image_status == "unreadable" and "over the pixel limit: 50000x50000" in s1.image_reason
    assert not s1.image_ok and s2.image_status == "ok" and s2.image_ok
    card = placeholder_html(uv, s1)
    assert "image unreadable: images/bomb.png — over the pixel limit: 50000x50000" in card
    uv = unit_view(bad_images, "gen", "gone")
    assert uv.slots[0].image_status == "missing"
    assert "image missing: images/nope.jpg — no file" in placeholder_html(uv, uv.slots[0])


def test_content_addressed_gmai_images_show_in_review(store, sample_files):
    ingest_benchmark(store, sample_files["gmai_tsv"], kind="gmai", benchmark_id="g")
    first = store.cursor().execute("SELECT item_id FROM items ORDER BY item_id LIMIT 1").fetchone()[0]
    uv = unit_view(store, "g", first)
    assert uv.slots[0].image_ok and uv.slots[0].image_path.startswith(store.files_dir)


def test_errors_page_in_the_app_filters_image_problems(tmp_path, bad_images, monkeypatch):
    pytest.importorskip("streamlit.testing.v1")
    from streamlit.testing.v1 import AppTest

    from .test_app_text import APP, PAGES_DIR
    bad_images.close()
    monkeypatch.setenv("MEDVIZ_DB", bad_images.path)
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["b"], at.query_params["images"], at.query_params["outcome"] = "gen", "problems", "all"
    at.run()
    at.switch_page(f"{PAGES_DIR}/errors.py").run()
    assert not at.exception
    assert at.checkbox(key="ef_images").value is True
    assert {m.label: m.value for m in at.metric}["pairs / items"] == "2"
    at.checkbox(key="ef_images").uncheck().run()
    assert {m.label: m.value for m in at.metric}["pairs / items"] == "3"
    assert "images" not in at.query_params
