"""The app's pages, declared once: each page's file under ``app_pages/``, title and icon, and the
``st.Page`` handles that ``st.navigation`` shows and ``st.switch_page`` is given. Page code asks for a
handle by name (``page(REVIEW)``); no page path is written anywhere else.

The handles are built once per session (an ``st.Page`` carries per-run state, so one object is never
shared between sessions running at the same time)."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import streamlit as st

PAGES_DIR = "app_pages"          # relative to app.py; not ``pages/``, which Streamlit would auto-discover

LEADERBOARD, REVIEW, ERRORS, EMBEDDINGS, STATISTICS, COMPARE, EXPORT, DATA = (
    "leaderboard", "review", "errors", "embeddings", "statistics", "compare", "export", "data")


@dataclass(frozen=True)
class PageSpec:
    file: str
    title: str
    icon: str
    url_path: str
    default: bool = False

    @property
    def path(self) -> str:
        """The page file relative to app.py (what ``st.Page`` and ``AppTest.switch_page`` take)."""
        return f"{PAGES_DIR}/{self.file}"


SPECS: dict[str, PageSpec] = {
    LEADERBOARD: PageSpec("home.py", "Leaderboard", ":material/leaderboard:", "home", default=True),
    REVIEW: PageSpec("review.py", "Review", ":material/compare:", "review"),
    ERRORS: PageSpec("errors.py", "Errors", ":material/error:", "errors"),
    EMBEDDINGS: PageSpec("embeddings.py", "Embeddings", ":material/scatter_plot:", "embeddings"),
    STATISTICS: PageSpec("statistics.py", "Statistics", ":material/monitoring:", "statistics"),
    COMPARE: PageSpec("compare.py", "Model vs model", ":material/difference:", "compare"),
    EXPORT: PageSpec("export.py", "Export", ":material/download:", "export"),
    DATA: PageSpec("data.py", "Data", ":material/database:", "data"),
}

_KEY = "_medviz_pages"


def handles() -> dict:
    """name -> ``st.Page`` for this session, in menu order."""
    h = st.session_state.get(_KEY)
    if h is None:
        h = {name: st.Page(s.path, title=s.title, icon=s.icon, url_path=s.url_path, default=s.default)
             for name, s in SPECS.items()}
        st.session_state[_KEY] = h
    return h


def page(name: str):
    """The ``st.Page`` handle of page ``name`` (one of the constants above)."""
    return handles()[name]


def url(name: str, **query) -> str:
    """A relative link to page ``name`` with query parameters (for link columns in tables)."""
    spec = SPECS[name]
    path = "" if spec.default else spec.url_path
    return f"{path}?{urlencode(query)}" if query else path


def switch(name: str, **query) -> None:
    """Open page ``name`` now (``st.switch_page`` with its handle)."""
    st.switch_page(page(name), query_params=query)


def request(name: str, **query) -> None:
    """For button callbacks (where ``st.switch_page`` is not allowed): open page ``name`` at the start of the
    next run; ``follow_request`` (called by app.py every run) performs it."""
    st.session_state["_goto_page"] = (name, query)


def follow_request() -> None:
    req = st.session_state.pop("_goto_page", None)
    if req:
        switch(req[0], **req[1])
