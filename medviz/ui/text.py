"""Text from users and files shown as text: the one escaping helper every page uses.

Streamlit renders Markdown (and its own ``:red[...]`` / ``:emoji:`` directives and ``$...$`` maths) in
``st.markdown``, captions, alerts and every widget label; plotly renders a subset of HTML in titles and
text. A reviewer name, rationale, item id, question, option, caption or model name must never become an
image fetched from another host, a link, or markup. So:

- ``md(value)``: for any Markdown context (markdown, caption, info/warning/error, widget labels, radio
  options): every Markdown/HTML/directive character backslash-escaped, newlines kept as line breaks
  (``inline=True`` folds them into spaces, for labels and table cells);
- ``code(value)``: an inline code span (ids, tags) whose fence no backtick in the value can close;
- ``js_literal(value)``: a value inside a ``<script>`` (JSON that cannot close the element);
- ``html_text(value)``: for HTML contexts (plotly titles/text, ``unsafe_allow_html`` snippets);
- both show bidi-override and other invisible direction controls as visible ``⟨U+202E⟩`` marks, so a
  name cannot make the text around it read backwards.

No Streamlit import here: pages and widgets call these, tests call them directly.
"""
from __future__ import annotations

import html
import re

# Direction controls (embeddings, overrides, isolates, marks) and other invisible format characters that
# change how neighbouring text reads.
_BIDI = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
# Characters that start Markdown/HTML/Streamlit constructs anywhere in a line: emphasis, code, links and
# images ([ and ]), HTML and autolinks (< >), tables, strikethrough, maths ($), entities (&); a colon before
# a word or slash (Streamlit :emoji: / :material/icon: shortcodes, "http:" autolinks); "@" of e-mail
# autolinks; "www." autolinks. Everything else (hyphens, dots, quotes) stays as typed, so messages and ids
# read the same in the page source as on screen.
_MD_INLINE = re.compile(r"[\\`*_\[\]<>|~$&]|:(?=[\w/])|@(?=\w)|(?<=\b[wW]{3})\.")
# Constructs that only count at the start of a line: headings, quotes, list items, setext/thematic rules.
_MD_LINE_START = re.compile(r"(?m)^([ \t]*\d*)([#>+=\-](?<!\d[#>+=\-])|(?<=\d)[.)])")
MAX_SHOWN = 20_000          # characters of one value shown; the rest is cut with its length said
_C0 = re.compile("[\x00-\x08\x0b-\x1f]")       # C0 controls incl. NUL (newline and tab are kept)


def visible_controls(text: str) -> str:
    return _BIDI.sub(lambda m: f"⟨U+{ord(m.group()):04X}⟩", text)


def _text(value, *, controls: bool = True) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_SHOWN:
        text = f"{text[:MAX_SHOWN]}… ({len(text):,} characters)"
    text = _C0.sub("\ufffd", text)
    return visible_controls(text) if controls else text


def md(value, *, inline: bool = False) -> str:
    """``value`` as literal text inside Markdown."""
    text = _MD_INLINE.sub(lambda m: "\\" + m.group(), _text(value, controls=False))
    text = visible_controls(_MD_LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), text))
    if inline:
        return re.sub(r"\s*\n\s*", " ", text).strip()
    # leading spaces would start an indented code block: keep them, as non-breaking spaces
    text = re.sub(r"(?m)^[ \t]+", lambda m: "\u00a0" * len(m.group().expandtabs(4)), text)
    return text.replace("\n", "  \n")


def code(value) -> str:
    """``value`` as an inline code span (ids, tags, model names shown in monospace). Inside a code span
    nothing is interpreted, so the fence is made longer than any run of backticks in the value."""
    text = re.sub(r"\s+", " ", _text(value, controls=False)).strip()
    fence = "`" * (max((len(r) for r in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{visible_controls(text)}{pad}{fence}" if text else "` `"


def html_text(value) -> str:
    """``value`` as literal text inside HTML (plotly titles and text, small HTML snippets)."""
    return html.escape(_text(value), quote=True).replace("\n", "<br>")


def js_literal(value) -> str:
    """``value`` as a JavaScript literal safe inside an HTML ``<script>`` element: JSON with ``<``, ``>`` and
    ``&`` as unicode escapes, so a value holding ``</script>`` cannot end the element."""
    import json
    return (json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
