"""Issue 11, "text from users and files is text": the escaping helper, checked by rendering its output with a
CommonMark renderer (markdown-it, what Streamlit's react-markdown follows) and an HTML parser."""
import re
from html.parser import HTMLParser

import pytest

from medviz.ui.text import code, html_text, js_literal, md

markdown_it = pytest.importorskip("markdown_it")

HOSTILE = [
    "![x](http://attacker.example/x.png)",
    "[click me](http://attacker.example/)",
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "**bold** _it_ `code` ~~s~~ # heading",
    "- list\n1. numbered\n> quote\n\n    indented code",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    ":red[coloured] :rocket: $x^2$ &amp; &lt;b&gt;",
    "<http://autolink.example> www.example.com",
    "line one\nline two",
    "admin\u202egnp.exe",
    "a\x00b\x07c",
]


def _render(text: str) -> str:
    return markdown_it.MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).render(text)


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)


def _tags(rendered: str) -> list[str]:
    p = _Tags()
    p.feed(rendered)
    return p.tags


@pytest.mark.parametrize("value", HOSTILE)
def test_markdown_escaping_leaves_only_paragraphs_and_line_breaks(value):
    rendered = _render(md(value))
    assert set(_tags(rendered)) <= {"p", "br"}, rendered
    escaped = md(value)
    assert "http:" not in escaped and "www." not in escaped    # GFM autolink literals cannot match


@pytest.mark.parametrize("value", HOSTILE)
def test_inline_escaping_inside_bold_stays_inline(value):
    rendered = _render(f"**Reviewer {md(value, inline=True)}** wrote")
    assert set(_tags(rendered)) <= {"p", "strong"}, rendered


def test_the_text_reads_the_same_after_rendering():
    rendered = _render(md("![x](http://a/x.png) **b** 1 < 2"))
    import html
    assert html.unescape(re.sub(r"<[^>]*>", "", rendered)).strip() == "![x](http://a/x.png) **b** 1 < 2"


@pytest.mark.parametrize("value", HOSTILE)
def test_html_escaping(value):
    assert set(_tags(html_text(value))) <= {"br"}


def test_bidi_and_control_characters_are_visible():
    assert "⟨U+202E⟩" in md("admin\u202egnp.exe") and "\u202e" not in md("admin\u202egnp.exe")
    assert "⟨U+2067⟩" in html_text("x\u2067y") and "\u2067" not in html_text("x\u2067y")
    assert "\x00" not in md("a\x00b") and "\x00" not in html_text("a\x00b")


def test_long_values_are_cut():
    assert len(md("x" * 1_000_000)) < 25_000


@pytest.mark.parametrize("value", HOSTILE + ["a`b", "``x``", "`<img src=x>`"])
def test_code_spans_cannot_be_closed_by_the_value(value):
    rendered = _render(f"## Pair {code(value)} <span>1 / 2</span>")
    assert set(_tags(rendered)) <= {"h2", "code", "span"}, rendered
    assert rendered.count("<code>") == 1


def test_js_literal_cannot_close_the_script_element():
    import json
    value = "</script><img src=x onerror=alert(1)>&\u2028"
    lit = js_literal(value)
    assert "<" not in lit and ">" not in lit and "&" not in lit and json.loads(lit) == value
