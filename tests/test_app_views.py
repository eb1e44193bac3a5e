"""The app's read models (medviz.readmodels) without Streamlit: filters, error pages, review units, queues,
thumbnails (medviz.thumbnails), the 2-D map sample."""
from __future__ import annotations

import base64
import os

import pytest

from medviz import thumbnails
from medviz.readmodels import embeddings, errors, leaderboard, review
from medviz.demo import SAMPLE_GMAI, SAMPLE_MC
from medviz.errors import MedvizError
from medviz.store import views as sqlv


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    from medviz.demo import build_demo
    from medviz.store import Store
    d = tmp_path_factory.mktemp("views")
    s = Store(str(d / "v.duckdb"))
    build_demo(s, str(d / "sd"))
    yield s
    s.close()


def test_filter_round_trips_through_the_url():
    f = errors.ErrorFilter(outcome="confused", modalities=["CT", "MR"], tags=["Refusal"], tagged="untagged",
                          biomedclip_sim_min=0.9, search="optic")
    q = f.to_query()
    assert q["modalities"] == ["CT", "MR"] and q["outcome"] == "confused" and q["biomedclip_sim_min"] == "0.9"
    back = errors.ErrorFilter.from_query(q)
    assert back == f
    assert errors.ErrorFilter.from_query({"outcome": "nonsense", "dino_sim_max": "x"}) == errors.ErrorFilter()
    assert errors.ErrorFilter.from_query({"outcome": "all"}).outcome is None


def test_error_counts_match_the_pair_table(demo_store):
    cur = demo_store.cursor()
    everything = sqlv.error_counts(cur, SAMPLE_MC, None, {})
    assert everything["units"] == 8 and everything["rows"] == 24        # 8 pairs × 3 models
    # the image-blind baseline gives one letter per pair, so every one of its pairs is confused
    blind = sqlv.error_counts(cur, SAMPLE_MC, ["image-blind-baseline"], {"outcome": "confused"})
    assert blind["rows"] == 8
    errs = sqlv.error_counts(cur, SAMPLE_MC, None, {"outcome": "error"})
    assert errs["rows"] == everything["rows"] - everything["correct"]
    ct = sqlv.error_counts(cur, SAMPLE_MC, None, {"modalities": ["CT"]})
    assert 0 < ct["units"] < everything["units"]
    # facet filters agree with the items themselves (a unit matches if any of its images does)
    items = cur.execute("SELECT pair_id, modality, categories FROM items WHERE benchmark_id = ?", [SAMPLE_MC]).df()
    for facet, values, col in (("modalities", ["CT", "Fundus photography"], "modality"),
                               ("categories", ["Laterality"], "categories")):
        hit = items[items[col].map(lambda v: bool(set([v] if isinstance(v, str) else list(v)) & set(values)))]
        got = sqlv.error_counts(cur, SAMPLE_MC, ["random-baseline (seed 0)"], {facet: values})
        assert got["units"] == hit["pair_id"].nunique() > 0, facet
    rows = sqlv.error_rows(cur, SAMPLE_MC, None, {"outcome": "confused"}, limit=5, offset=0)
    assert len(rows) == 5 and all(len(set(r)) == 1 for r in rows["letters"])


def test_error_page_pages_and_clamps(demo_store):
    rows, counts = errors.error_page(demo_store, SAMPLE_MC, None, errors.ErrorFilter(outcome=None), page=99,
                                    page_size=10)
    assert counts["pages"] == 3 and counts["page"] == 2 and len(rows) == 4


def test_tag_filter_uses_annotation_units(demo_store):
    import pandas as pd
    idx = errors.AnnotationIndex(pd.DataFrame({"unit_id": ["s001", "s002"], "tag": ["Refusal", "Perceptual error/Detail missed"],
                                              "reviewer": ["a", "b"], "model": [None, None]}))
    f = errors.ErrorFilter(outcome=None, tags=["Perceptual error"])
    assert f.sql_filter(idx)["unit_ids"] == ["s002"]
    f = errors.ErrorFilter(outcome=None, tagged="untagged")
    c = sqlv.error_counts(demo_store.cursor(), SAMPLE_MC, None, f.sql_filter(idx))
    assert c["units"] == 6


def test_unit_view_has_both_images_and_every_answer(demo_store):
    uv = review.unit_view(demo_store, SAMPLE_MC, "s004")
    assert uv.is_pair and [s.slot for s in uv.slots] == [1, 2]
    assert {s.answer for s in uv.slots} == {"A", "B"}
    assert all(len(s.answers) == 3 and s.image_ok for s in uv.slots)
    assert "image-blind-baseline" in uv.confused_models()
    assert any(a.synthetic for a in uv.slots[0].answers)
    single = review.unit_view(demo_store, SAMPLE_GMAI, "3")
    assert not single.is_pair and len(single.slots) == 1
    with pytest.raises(MedvizError, match="no pair or item"):
        review.unit_view(demo_store, SAMPLE_MC, "nope")


def test_navigation_and_untagged_queue(demo_store):
    ids = sqlv.unit_ids(demo_store.cursor(), SAMPLE_MC)
    assert review.neighbour(ids, ids[-1], 1) == ids[0] and review.neighbour(ids, ids[0], -1) == ids[-1]
    assert review.neighbour(ids, "missing", 1) == ids[0]
    errs = sqlv.error_unit_ids(demo_store.cursor(), SAMPLE_MC, None, {"outcome": "error"})
    first = review.next_untagged_error(demo_store, SAMPLE_MC, None, None, set())
    assert first == errs[0]
    assert review.next_untagged_error(demo_store, SAMPLE_MC, None, None, {errs[0]}) == errs[1]
    assert review.next_untagged_error(demo_store, SAMPLE_MC, None, None, set(errs)) is None


def test_thumbnails_are_built_once(demo_store):
    uv = review.unit_view(demo_store, SAMPLE_MC, "s001")
    path = uv.slots[0].image_path
    a = thumbnails.cached_image_bytes(demo_store, path, size=64)
    thumbs = os.path.join(demo_store.files_dir, "thumbs")
    files = {f: os.stat(os.path.join(thumbs, f)).st_mtime_ns for f in os.listdir(thumbs)}
    b = thumbnails.cached_image_bytes(demo_store, path, size=64)
    assert a == b and a[:2] == b"\xff\xd8"
    assert {f: os.stat(os.path.join(thumbs, f)).st_mtime_ns for f in os.listdir(thumbs)} == files
    with pytest.raises(MedvizError, match="missing"):
        thumbnails.cached_image_bytes(demo_store, "/nonexistent/x.png")
    # a missing image is a "no image" placeholder, never None (tables showed the text "None")
    assert thumbnails.thumbnail_uri(demo_store, None) == thumbnails.MISSING_URI
    assert thumbnails.MISSING_URI.startswith("data:image/svg+xml;base64,")
    assert b"no image" in base64.b64decode(thumbnails.MISSING_URI.split(",", 1)[1])


def test_leaderboard_has_intervals_and_baseline(demo_store):
    lb = leaderboard.leaderboard(demo_store, SAMPLE_MC)
    assert set(lb["model"]) == {"random-baseline (seed 0)", "image-blind-baseline", "synthetic-freetext (hand-written)"}
    blind = lb.set_index("model").loc["image-blind-baseline"]
    assert blind["set_accuracy"] == 0 and blind["confusion"] == 1 and blind["baseline"] == 0.25
    assert (lb["set_accuracy_low"] <= lb["set_accuracy"]).all() and (lb["set_accuracy"] <= lb["set_accuracy_high"]).all()
    assert lb.set_index("model").loc["synthetic-freetext (hand-written)", "synthetic"]
    g = leaderboard.leaderboard(demo_store, SAMPLE_GMAI)
    assert g["headline"].eq("accuracy").all() and g["baseline"].between(0.2, 0.5).all()


def test_read_models_do_not_import_streamlit():
    import subprocess
    import sys
    code = ("import sys, medviz.readmodels.leaderboard, medviz.readmodels.errors, medviz.readmodels.review, "
            "medviz.readmodels.embeddings, medviz.readmodels.statistics, medviz.thumbnails, medviz.store.views; "
            "sys.exit('streamlit' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_materialised_outcomes_match_predictions(demo_store):
    """core materialises unit outcomes at import; recompute them here from the raw rows, in pandas."""
    from medviz.store import core
    cur = demo_store.cursor()
    frame = core.scoring_frame(cur, SAMPLE_MC)
    frame["unit_id"] = frame["pair_id"].fillna(frame["item_id"])
    want = {}
    for (unit, model), g in frame.sort_values("slot").groupby(["unit_id", "model"]):
        ok = (g["parsed"] == g["answer"]) & g["parsed"].notna()
        letters = [v if isinstance(v, str) else None for v in g["parsed"]]
        want[(unit, model)] = (bool(ok.all()), bool((~ok & g["parsed"].notna()).any()),
                               bool(g["parsed"].isna().any()),
                               bool(len(g) == 2 and g["parsed"].notna().all() and letters[0] == letters[1]), letters)
    got = cur.execute("SELECT unit_id, model, all_correct, any_wrong, any_invalid, confused, letters "
                      "FROM unit_outcomes WHERE benchmark_id = ?", [SAMPLE_MC]).fetchall()
    assert {(r[0], r[1]): (r[2], r[3], r[4], r[5], list(r[6])) for r in got} == want
    assert len(want) == 8 * frame["model"].nunique()

def test_map_sample_caps_points_deterministically():
    import pandas as pd
    df = pd.DataFrame({"item_id": [str(i) for i in range(50)], "x": range(50)})
    assert embeddings.map_sample(df, max_points=100) is df
    a, b = embeddings.map_sample(df, max_points=10), embeddings.map_sample(df, max_points=10)
    assert len(a) == 10 and list(a["item_id"]) == list(b["item_id"]) and a.index.is_monotonic_increasing


def test_next_untagged_queue_steps_after_current_skips_tagged_and_wraps():
    errs = ["s001", "s003", "s005", "s007"]
    assert review.next_untagged(errs, set(), None) == "s001"
    assert review.next_untagged(errs, set(), "s003") == "s005"            # strictly after the current unit
    assert review.next_untagged(errs, set(), "s004") == "s005"            # current need not be an error
    assert review.next_untagged(errs, {"s005"}, "s003") == "s007"         # tagged units are skipped
    assert review.next_untagged(errs, {"s001"}, "s007") == "s003"         # wraps to the first untagged
    assert review.next_untagged(errs, set(errs), "s001") is None


def test_next_untagged_error_is_the_queue_over_the_stores_error_units(demo_store):
    errs = sqlv.error_unit_ids(demo_store.cursor(), SAMPLE_MC, None, {"outcome": "error"})
    assert len(errs) >= 3
    for cur in [None, *errs]:
        assert review.next_untagged_error(demo_store, SAMPLE_MC, None, cur, {errs[1]}) == \
            review.next_untagged(errs, {errs[1]}, cur)
