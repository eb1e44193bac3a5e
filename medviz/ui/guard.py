"""Error display: a ``MedvizError`` becomes a message saying what to do; anything else is a bug, logged with
its traceback on the server and shown as a one-line "internal error" (never a traceback in the page)."""
from __future__ import annotations

import logging
from contextlib import contextmanager

import streamlit as st

from ..errors import DatabaseInUse, MedvizError
from .text import md

log = logging.getLogger("medviz.ui")
INTERNAL = "Internal error"


def _is_streamlit_control(e: BaseException) -> bool:
    # st.stop / st.rerun / st.switch_page raise these; they must pass through
    name = type(e).__name__
    return name in ("StopException", "RerunException") or type(e).__module__.startswith("streamlit.runtime")


def show_error(e: BaseException) -> None:
    if isinstance(e, DatabaseInUse):
        st.error(f"**Database in use.** {md(e)}")
    elif isinstance(e, MedvizError):
        st.error(md(e))
    else:
        log.exception("unexpected error in the app")
        st.error(f"{INTERNAL}: {type(e).__name__}: {md(e)}. This is a bug in medviz; the details are in the "
                 "server log. Reload the page to continue.")


@contextmanager
def guard():
    """``with guard(): ...``: catch errors inside a page or component and show them as messages."""
    try:
        yield
    except Exception as e:  # noqa: BLE001 - the boundary for user-visible errors
        if _is_streamlit_control(e):
            raise
        show_error(e)
