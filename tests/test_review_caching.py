"""The Review page's tagging form reads the database once per annotation generation: a quick-tag toggle (the
form's rerun) after the first draw reads nothing, and a save (a write) makes the next draw read again and show
the saved tags. Demo data (synthetic predictions labelled as such)."""
from __future__ import annotations

import pathlib

import pytest

pytest.importorskip("streamlit.testing.v1")
from streamlit.testing.v1 import AppTest  # noqa: E402

from medviz.demo import SAMPLE_MC  # noqa: E402
from medviz.ui.navigation import REVIEW, SPECS  # noqa: E402

APP = str(pathlib.Path(__file__).resolve().parents[1] / "app.py")


def _clean(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not [e.value for e in at.error if "Internal error" in e.value]


def _review_s006(demo_db, monkeypatch):
    """Review open on the demo's pair s006."""
    monkeypatch.setenv("MEDVIZ_DB", demo_db)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["b"] = SAMPLE_MC
    at.query_params["pair"] = "s006"
    at.run()
    at.switch_page(SPECS[REVIEW].path).run()
    return at


def test_a_tag_toggle_reads_no_database_and_a_save_reads_again(demo_db, monkeypatch):
    from medviz import annotations
    from medviz.annotations import reading
    from medviz.ui import data
    at = _review_s006(demo_db, monkeypatch)
    at.sidebar.text_input(key="reviewer_name_input").input("Dr Cache").run()
    _clean(at)
    key = f"{SAMPLE_MC}::s006"

    def shown():
        labels = [e.label for e in at.expander if "on this pair" in e.label]
        return int(labels[0].split()[0]) if labels else 0
    before = shown()
    calls = []

    def counted(fn):
        def wrapper(*a, **k):
            calls.append(fn.__name__)
            return fn(*a, **k)
        return wrapper
    for mod, name in ((reading, "visible_annotations"), (reading, "get_plan"), (annotations, "active_taxonomy"),
                      (annotations, "current_annotations")):
        monkeypatch.setattr(mod, name, counted(getattr(mod, name)))
    at.button(key=f"q0::{key}").click().run()                # quick tag 1: the form only, same generation
    _clean(at)
    assert at.button(key=f"q0::{key}").label.startswith("☑")
    assert calls == []                                        # every read came from the per-generation caches
    gen = data.generation()
    at.session_state["advance_after_save"] = False
    at.button(key=f"save::{key}").click().run()
    _clean(at)
    assert data.generation() > gen                            # the write bumped the generation ...
    assert "visible_annotations" in calls                     # ... so the form read the unit's readings again
    assert shown() == before + 1                              # my saved reading is listed
    assert at.button(key=f"q0::{key}").label.startswith("☑")  # and shows the saved tag


def test_options_chosen_in_the_lazy_popover_outlive_its_closing(demo_db, monkeypatch):
    """The Options popover builds its widgets only while open; the queue and "open the next pair after saving"
    chosen there stay in force after it closed and the page ran without them."""
    at = _review_s006(demo_db, monkeypatch)
    _clean(at)
    assert "review_queue" not in [r.key for r in at.radio]             # closed by default: nothing sent
    at.session_state["review_options"] = True
    at.run()
    at.radio(key="review_queue").set_value("errors").run()
    at.toggle(key="advance_after_save").set_value(False).run()
    at.session_state["review_options"] = False
    at.run()
    at.run()
    _clean(at)
    assert "review_queue" not in [r.key for r in at.radio]
    assert at.session_state["review_queue"] == "errors" and at.session_state["advance_after_save"] is False
    at.session_state["review_options"] = True
    at.run()
    assert at.radio(key="review_queue").value == "errors" and at.toggle(key="advance_after_save").value is False
