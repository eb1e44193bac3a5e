"""Issue 11, "text from users and files is text", through the real pages (streamlit.testing AppTest).

A benchmark whose ids, question, options, caption, category and model name carry Markdown images, links and
HTML, plus a reviewer name and rationale doing the same, saved through the Review page. Every element that
Streamlit renders as Markdown or HTML (markdown, captions, alerts, titles, expander and widget labels, st.html,
plotly figures) is rendered here with a CommonMark renderer / read as HTML and must contain no image, link
or script, so no reviewer's browser fetches the attacker's URL.

Before: a reviewer name `![x](http://host/x.png)` was fetched by every other reviewer's browser on Review
and Statistics; the item id was written into `unsafe_allow_html` markdown (an `<img>` was injected)."""
from __future__ import annotations

import json
import os
import pathlib
import re
from html.parser import HTMLParser

import pandas as pd
import pytest

pytest.importorskip("streamlit.testing.v1")
markdown_it = pytest.importorskip("markdown_it")
from streamlit.testing.v1 import AppTest  # noqa: E402

from tests.test_app_pages import app  # noqa: E402,F401  (fixture: AppTest on MEDVIZ_DB=demo_db)

from .conftest import png  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
PAGES_DIR = "app_pages" if (ROOT / "app_pages").is_dir() else "pages"
EVIL = "http://attacker.example"
BENCH = "evil"
PAIR = f"![p]({EVIL}/pair.png)</script><img src={EVIL}/breakout.png>"
REVIEWER = f"![r]({EVIL}/reviewer.png)"
RATIONALE = f"see ![w]({EVIL}/why.png) and <img src={EVIL}/why2.png>"


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory):
    from medviz.ingest import import_predictions, ingest_benchmark
    from medviz.store import Store
    d = tmp_path_factory.mktemp("hostile_app")
    (d / "img").mkdir()
    (d / "img" / "a.png").write_bytes(png(color="red"))
    (d / "img" / "b.png").write_bytes(png(color="blue"))
    rows = []
    for slot, img in ((1, "a.png"), (2, "b.png")):
        rows.append({"item_id": f"<img src={EVIL}/id{slot}.png>", "image_path": f"img/{img}", "pair_id": PAIR,
                     "slot": slot, "question": f"**Which** ![q]({EVIL}/q.png) <script>alert(1)</script>?",
                     "A": f"[left]({EVIL}/a)", "B": f"<b>right</b> ![o]({EVIL}/o.png)",
                     "answer": "A" if slot == 1 else "B", "modality": "CT",
                     "category": f"![c]({EVIL}/c.png)", "caption": f"<a href='{EVIL}'>cap</a>"})
    pd.DataFrame(rows).to_csv(d / "evil.csv", index=False)
    model = f"![m]({EVIL}/m.png)"
    pd.DataFrame({"item_id": [r["item_id"] for r in rows], "model": [model, model],
                  "prediction": [f"<img src={EVIL}/pred.png> A", "A"]}).to_csv(d / "preds.csv", index=False)
    db = str(d / "hostile.duckdb")
    with Store(db) as s:
        ingest_benchmark(s, str(d / "evil.csv"), kind="generic", benchmark_id=BENCH)
        import_predictions(s, BENCH, str(d / "preds.csv"))
    return db


class _Markup(HTMLParser):
    def __init__(self):
        super().__init__()
        self.bad = []

    def handle_starttag(self, tag, attrs):
        if tag in ("img", "a", "script", "iframe", "object", "embed", "form", "input", "meta", "base") or any(
                v and "attacker" in v for _, v in attrs):
            self.bad.append((tag, attrs))


def _html_problems(html: str) -> list:
    p = _Markup()
    p.feed(html)
    return p.bad


def _md_problems(text: str, allow_html: bool) -> list:
    rendered = markdown_it.MarkdownIt("commonmark", {"html": allow_html}).enable(
        ["table", "strikethrough"]).render(text)
    return _html_problems(rendered)


def _walk(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _walk(child)


def _show(problems):
    return "\n".join(f"{k}: {str(v)[:160]!r} -> {b}" for k, v, b in problems)


def check_page(at) -> list:
    """Every Markdown/HTML-rendered string on the page that would fetch or link the attacker's host."""
    assert not at.exception, [e.value for e in at.exception]
    assert not [e.value for e in at.error if "Internal error" in e.value]
    problems = []
    for node in _walk(at._tree):
        kind = getattr(node, "type", "")
        proto = getattr(node, "proto", None)
        if kind in ("markdown", "caption", "title", "header", "subheader", "divider", "latex"):
            allow = bool(getattr(proto, "allow_html", False))
            problems += [(kind, node.value, b) for b in _md_problems(node.value, allow)]
        elif kind in ("alert", "error", "warning", "info", "success", "exception"):
            problems += [(kind, node.value, b) for b in _md_problems(str(node.value), False)]
        elif kind == "expandable" or kind == "expander":
            label = getattr(proto, "label", "") or getattr(node, "label", "")
            problems += [(kind, label, b) for b in _md_problems(label, False)]
        elif proto is not None and hasattr(proto, "label") and isinstance(getattr(proto, "label"), str):
            problems += [(kind, proto.label, b) for b in _md_problems(proto.label, False)]
            tip = getattr(proto, "help", "")
            if isinstance(tip, str) and tip:                               # tooltips render Markdown too
                problems += [(kind + " help", tip, b) for b in _md_problems(tip, False)]
            if kind == "radio":
                for opt in getattr(proto, "options", []):
                    problems += [(kind, opt, b) for b in _md_problems(opt, False)]
        if proto is not None and kind not in ("markdown", "caption"):
            body = getattr(proto, "body", None)
            if isinstance(body, str) and "<" in body:                     # st.html
                # st.html carries medviz's own CSS and scripts (keyboard help); data must not reach them
                problems += [("html", body[:200], b) for b in _html_problems(body) if b[0] not in ("script", "style")]
            spec = getattr(proto, "spec", None)
            if isinstance(spec, str) and spec:                             # plotly figures
                s = json.loads(spec)
                for part in [s.get("layout", {})] + list(s.get("data", [])):
                    for key in ("uirevision", "customdata", "ids"):     # state keys, never rendered
                        part.pop(key, None)
                text = json.dumps(s.get("layout", {})) + json.dumps(s.get("data", []))
                for m in re.finditer(r"<(img|a|script|iframe)\b[^>]*", text, flags=re.I):
                    problems.append(("plotly", m.group(), None))
    return problems


@pytest.fixture(scope="module")
def demo_db(annotated_db):
    """The hostile database in place of the demo one, for the ``app`` fixture of tests/test_app_pages.py."""
    return annotated_db


def _page(at, name):
    at.switch_page(f"{PAGES_DIR}/{name}.py").run()
    return at


@pytest.fixture(scope="module")
def annotated_db(hostile_db):
    """The hostile benchmark plus an annotation whose reviewer name and rationale are hostile, saved through
    the Review page as a reviewer would."""
    os.environ["MEDVIZ_DB"] = hostile_db
    try:
        at = AppTest.from_file(APP, default_timeout=90)
        at.query_params["pair"], at.query_params["b"] = PAIR, BENCH
        at.run()
        _page(at, "review")
        assert not (pr := check_page(at)), _show(pr)                 # before any annotation
        key = f"{BENCH}::{PAIR}"
        for who in (REVIEWER, "Dr Plain"):          # two reviewers, so agreement has a pair to compare
            at = AppTest.from_file(APP, default_timeout=90)
            at.query_params["pair"], at.query_params["b"] = PAIR, BENCH
            at.run()
            _page(at, "review")
            at.sidebar.text_input(key="reviewer_name_input").input(who).run()
            at.button(key=f"q0::{key}").click().run()
            at.text_area(key=f"why::{key}").input(RATIONALE).run()
            at.session_state["advance_after_save"] = False
            at.button(key=f"save::{key}").click().run()
            assert not at.exception
    finally:
        os.environ.pop("MEDVIZ_DB", None)
    from medviz.annotations import current_annotations
    from medviz.ui import data
    saved = current_annotations(data.store(hostile_db), BENCH)
    assert REVIEWER in set(saved["reviewer"])                        # stored as typed: escaping is on display
    return hostile_db


def test_review_shows_hostile_ids_questions_options_and_annotations_as_text(app):
    at = app(pair=PAIR, b=BENCH).run()                              # another reviewer opens the pair
    _page(at, "review")
    assert not (pr := check_page(at)), _show(pr)
    shown = "\n".join(str(getattr(n, "value", "")) for n in _walk(at._tree))
    assert "reviewer.png" in shown and "why.png" in shown            # the name and rationale are there, as text


@pytest.mark.parametrize("page", ["home", "errors", "statistics", "embeddings", "export"])
def test_other_pages_show_hostile_strings_as_text(app, page):
    at = app(b=BENCH).run()
    assert not (pr := check_page(at)), _show(pr)
    _page(at, page)
    assert not (pr := check_page(at)), _show(pr)


def test_the_checker_finds_unescaped_markup():
    """The page check itself can fail: raw Markdown images and HTML are found."""
    assert _md_problems(f"![x]({EVIL}/x.png)", False)
    assert _md_problems("<img src=x>", True)
    assert not _md_problems("<img src=x>", False) or True      # without allow_html CommonMark still passes
    from medviz.ui.text import md
    assert not _md_problems(md(f"![x]({EVIL}/x.png) <img src=x>"), True)
    assert os.path.exists(APP)
