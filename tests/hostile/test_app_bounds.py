"""Issue 11, bounded browser inputs through the pages (AppTest): upload names with NUL or 300 characters and a
60 KB `?pair=` get a short message instead of crashing the page or being searched and echoed.

Before: the upload's name was joined into a temporary path (ValueError: embedded null byte / OSError: file
name too long, the generic error page); `?pair=` of 60 KB was looked up and echoed (Review took 10 s)."""
from __future__ import annotations

import pytest

pytest.importorskip("streamlit.testing.v1")

from medviz.demo import SAMPLE_MC  # noqa: E402
from tests.test_app_pages import app, assert_clean  # noqa: E402,F401  (fixtures; demo_db is in conftest)

from .test_app_text import PAGES_DIR  # noqa: E402

CSV = b"item_id,model,prediction\ns001-1,m,A\n"


@pytest.mark.parametrize("name,needle", [("a\x00b.csv", "which a file name cannot hold"),
                                         ("p" * 296 + ".csv", "is 300 characters long; the limit is 255")])
def test_hostile_upload_names_get_a_message(app, name, needle):
    at = app(b=SAMPLE_MC).run()
    at.get("file_uploader")[0].upload(name, CSV, "text/csv").run()
    at.button(key="pred_import").click().run()
    assert_clean(at)
    errors = [e.value for e in at.error]
    assert any(needle in e for e in errors), errors
    assert all(len(e) < 400 and "\x00" not in e for e in errors)


def test_an_ordinary_upload_still_imports(app):
    at = app(b=SAMPLE_MC).run()
    at.get("file_uploader")[0].upload("m_mc.csv", CSV, "text/csv").run()
    at.button(key="pred_import").click().run()
    assert_clean(at)
    assert any("Imported 1 predictions for m" in s.value for s in at.success)


def test_a_60_kb_pair_parameter_is_ignored_not_searched(app):
    at = app(pair="x" * 60_000, b=SAMPLE_MC).run()
    at.switch_page(f"{PAGES_DIR}/review.py").run()
    assert_clean(at)
    errors = [e.value for e in at.error]
    assert any("60,000 characters long (the limit is 200); it was ignored" in e for e in errors), errors
    assert all(len(e) < 400 for e in errors)
    assert at.query_params["pair"] in ("s001", ["s001"])        # the first pair is shown instead
