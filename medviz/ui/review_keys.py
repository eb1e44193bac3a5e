"""Review page keys that Streamlit's button shortcuts cannot express, done in the browser with no rerun:
``R`` focuses the rationale box, ``?`` opens (and ``?``/Esc closes) a help overlay listing every key (the page
scrolling back to the top when a new pair opens lives with the viewer's gestures, ``viewer_gestures.js``). Buttons keep their own
shortcuts (J, K, N, U, 1–9, Ctrl+Enter); ``KEYS`` is the one list the overlay and the captions show."""
from __future__ import annotations

import html

import streamlit as st

from .text import js_literal

KEYS = [
    ("J", "next pair"), ("K", "previous pair"), ("N", "next untagged error (or my queue / adjudication queue)"),
    ("1–9", "toggle the quick tags"), ("R", "type the rationale"), ("Ctrl+Enter", "save the tag and open the next pair"),
    ("U", "undo (retract) my last save"), ("?", "this help (Esc closes)"),
    ("Scroll / drag", "zoom / pan both images; double-click resets"),
    ("Right-drag", "window/level: ↔ width, ↕ level (Ctrl+drag too)"),
    ("Shift+scroll, ↑ ↓", "frames (pointer over a multi-frame image; PgUp/PgDn)"),
    ("Tab", "from the tag buttons to the rationale"),
]

_SCRIPT = """
<script>
(() => {
  const doc = window.parent ? window.parent.document : document;
  const w = doc.defaultView || window;
  const rows = %(rows)s;
  if (!w.__mvKeys) {
    w.__mvKeys = true;
    const typing = (el) => el && (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA' || el.isContentEditable);
    const overlay = () => {
      let o = doc.getElementById('mv-help');
      if (o) { o.remove(); return; }
      o = doc.createElement('div');
      o.id = 'mv-help';
      o.setAttribute('role', 'dialog');
      o.setAttribute('aria-label', 'Keyboard shortcuts');
      // above everything Streamlit draws, the sidebar included (at narrow widths it overlays the page)
      o.style.cssText = 'position:fixed;inset:0;background:rgba(0,0,0,.45);z-index:2147483000;display:flex;' +
                        'align-items:center;justify-content:center;';
      const box = doc.createElement('div');
      box.style.cssText = 'background:#fff;border-radius:10px;padding:18px 26px;' +
                          'min-width:min(420px,calc(100vw - 24px));max-width:calc(100vw - 24px);' +
                          'max-height:calc(100vh - 24px);overflow:auto;box-sizing:border-box;' +
                          'font-family:sans-serif;box-shadow:0 8px 30px rgba(0,0,0,.3)';
      const h = doc.createElement('h3'); h.textContent = 'Keyboard shortcuts'; h.style.margin = '0 0 10px';
      box.appendChild(h);
      const t = doc.createElement('table');
      for (const [k, v] of w.__mvKeyRows) {
        const tr = doc.createElement('tr');
        const a = doc.createElement('td'); const b = doc.createElement('td');
        a.textContent = k; b.textContent = v;
        a.style.cssText = 'font-weight:700;padding:3px 18px 3px 0;white-space:nowrap';
        tr.appendChild(a); tr.appendChild(b); t.appendChild(tr);
      }
      box.appendChild(t);
      o.appendChild(box);
      o.addEventListener('click', () => o.remove());
      doc.body.appendChild(o);
    };
    doc.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') { const o = doc.getElementById('mv-help'); if (o) o.remove(); return; }
      if (typing(doc.activeElement) || e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === '?') { e.preventDefault(); overlay(); }
      else if (e.key === 'r' || e.key === 'R') {
        const ta = doc.querySelector("textarea[aria-label='Rationale']");
        if (ta) { e.preventDefault(); ta.focus(); ta.scrollIntoView({block: 'center'}); }
      }
    }, true);
  }
  w.__mvKeyRows = rows;
})();
</script>
"""


def install() -> None:
    """The key handlers, sent once per session (they stay on the browser tab's document; every further page
    run would otherwise send and run the script again)."""
    if st.session_state.get(_INSTALLED):
        return
    st.session_state[_INSTALLED] = True
    st.html(_SCRIPT % {"rows": js_literal(KEYS)}, unsafe_allow_javascript=True)


_INSTALLED = "_review_keys_sent"


def caption() -> str:
    return " · ".join(f"{k} {v}" for k, v in KEYS)


def tag_status_html(labels: list[str], dirty: bool) -> str:
    """A small fixed badge (bottom right) with the tags toggled on this pair, visible wherever the page is
    scrolled, so digit keys always give feedback."""
    text = ", ".join(html.escape(t) for t in labels) if labels else "no tags yet"
    state = " · unsaved" if dirty and labels else ""
    return ("<div data-testid='mv-tag-status' style='position:fixed;right:18px;bottom:14px;z-index:9999;"
            "background:#1e293b;color:#fff;border-radius:16px;padding:5px 14px;font-size:0.85rem;"
            f"box-shadow:0 2px 8px rgba(0,0,0,.25);max-width:46vw'>Tags: {text}{state}</div>")
