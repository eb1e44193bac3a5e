"""Context follows the user (issue 13), through AppTest: Review opened from an Errors list or a model-vs-model
slice steps through that list and says where it is; the Errors filter survives leaving the page."""
from __future__ import annotations

import pathlib

import pytest

pytest.importorskip("streamlit.testing.v1")
from streamlit.testing.v1 import AppTest  # noqa: E402

from medviz.demo import SAMPLE_MC  # noqa: E402
from medviz.readmodels.errors import ErrorFilter  # noqa: E402
from medviz.readmodels.lists import COMPARE, ERRORS, ReviewList  # noqa: E402
from medviz.ui import navigation  # noqa: E402
from medviz.ui.navigation import REVIEW, SPECS  # noqa: E402

APP = str(pathlib.Path(__file__).resolve().parents[1] / "app.py")


def _app(demo_db, monkeypatch, **qp):
    monkeypatch.setenv("MEDVIZ_DB", demo_db)
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in qp.items():
        at.query_params[k] = v
    return at


def _clean(at):
    assert not at.exception, [e.value for e in at.exception]


def test_list_kinds_are_page_names():
    assert ERRORS == navigation.ERRORS and COMPARE == navigation.COMPARE


def test_review_list_round_trips_through_the_url():
    f = ErrorFilter(outcome="wrong", modalities=["MRI"], tags=["A/b"], search="lung")
    rl = ReviewList.errors(f, ["llava"], page=2)
    back = ReviewList.from_items(rl.items())
    assert back == rl and back.label() == "wrong · MRI · A/b · “lung” · llava"
    assert back.back() == (ERRORS, {**f.to_query(), "m": ["llava"], "p": "2"})
    c = ReviewList.compare("a", "b", "b_only", "modality", "CT")
    assert ReviewList.from_items(c.items()) == c and c.label() == "b right, a wrong · modality CT"
    assert c.back() == (COMPARE, {"ma": "a", "mb": "b", "by": "modality"})
    assert ReviewList.from_query({"list": "compare", "ma": "a"}) is None


def test_review_steps_through_the_errors_list_it_was_opened_from(demo_db, monkeypatch):
    from medviz.store import Store
    from medviz.store import views as sqlv
    f = ErrorFilter(outcome="confused")
    with Store(demo_db, read_only=True) as s:
        units = sqlv.error_unit_ids(s.cursor(), SAMPLE_MC, None, f.sql_filter())
    assert len(units) >= 2
    at = _app(demo_db, monkeypatch, b=SAMPLE_MC, pair=units[1], **ReviewList.errors(f).to_query())
    at.run()
    at.switch_page(SPECS[REVIEW].path).run()
    _clean(at)
    bar = "\n".join(m.value for m in at.markdown)
    assert f"2 / {len(units)} of: confused (same answer twice)" in bar
    at.button(key="nav_next").click().run()
    _clean(at)
    assert at.query_params["pair"] == [units[2 % len(units)]] or at.query_params["pair"] == units[2 % len(units)]
    assert at.query_params["list"] in (["errors"], "errors")          # the list stays in the URL


def test_errors_filter_survives_leaving_the_page(demo_db, monkeypatch):
    at = _app(demo_db, monkeypatch, b=SAMPLE_MC)
    at.run()
    at.switch_page(SPECS[navigation.ERRORS].path).run()
    at.selectbox(key="ef_outcome").set_value("confused").run()
    _clean(at)
    at.switch_page(SPECS[navigation.STATISTICS].path).run()
    at.switch_page(SPECS[navigation.ERRORS].path).run()
    _clean(at)
    assert at.selectbox(key="ef_outcome").value == "confused"


def test_compare_page_links_open_review_on_the_slice(demo_db, monkeypatch):
    at = _app(demo_db, monkeypatch, b=SAMPLE_MC)
    at.run()
    at.switch_page(SPECS[navigation.COMPARE].path).run()
    _clean(at)
    df = at.dataframe[0].value
    assert "McNemar exact p" in df.columns and df.iloc[0]["slice"] == "(all units)"
    links = [u for u in list(df["open A right, B wrong"]) + list(df["open B right, A wrong"]) if u]
    assert links and all(u.startswith("review?") and "list=compare" in u for u in links)


def test_errors_page_tags_every_unit_of_the_filter(demo_db, monkeypatch, tmp_path):
    import shutil
    from medviz.annotations import current_annotations, load_taxonomy
    from medviz.store import Store
    db = str(tmp_path / "bulk.duckdb")
    shutil.copy(demo_db, db)
    f = ErrorFilter(outcome="confused")
    with Store(db, read_only=True) as s:
        units = ReviewList.errors(f).unit_ids(s, SAMPLE_MC)
        before = len(current_annotations(s, SAMPLE_MC))
    at = _app(db, monkeypatch, b=SAMPLE_MC, outcome="confused")
    at.run()
    at.switch_page(SPECS[navigation.ERRORS].path).run()
    at.sidebar.text_input(key="reviewer_name_input").input("Dr Bulk").run()
    _clean(at)
    tag = load_taxonomy().leaves()[0]
    at.multiselect(key="bulk_tags::errors").set_value([tag]).run()
    at.button(key="bulk_go::errors").click().run()
    _clean(at)
    assert any(f"Saved {len(units)} annotations" in s.value for s in at.success)
    from medviz.ui import data
    cur = current_annotations(data.store(db), SAMPLE_MC)
    mine = cur[cur["reviewer"] == "Dr Bulk"]
    assert len(cur) == before + len(units) and sorted(mine["target_id"]) == sorted(units)
