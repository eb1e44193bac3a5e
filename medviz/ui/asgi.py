"""Streamlit's side of ``medviz serve``: the ``st.App`` (app + extra routes + lifespan), its config options,
uvicorn serving it, the app's secrets and its query cache. ``medviz.server`` calls these, so Streamlit stays
imported only under ``medviz/ui/`` and the page files."""
from __future__ import annotations

import logging


def streamlit_app(script: str, routes: list, lifespan):
    """Streamlit's ASGI entry point: the app at ``script`` with ``routes`` (the REST API) beside it."""
    import streamlit as st
    return st.App(script, routes=routes, lifespan=lifespan)


def secrets() -> dict:
    """The app's secrets (``.streamlit/secrets.toml``), {} when there are none."""
    import streamlit as st
    try:
        return st.secrets.to_dict()
    except Exception:  # noqa: BLE001 - no secrets file (Streamlit raises its own error type)
        return {}


def clear_cached_queries() -> None:
    """Drop every cached query result (``st.cache_data``, and the caches keyed by ``data.generation()``, which
    this bumps): the store changed behind the app's back."""
    import streamlit as st

    from . import data
    st.cache_data.clear()
    data.after_write()


def run(app, host: str, port: int, options: dict) -> None:
    """Serve the ``st.App`` with uvicorn (Streamlit's documented ``uvicorn module:app`` route) after applying
    Streamlit's config ``options``; websocket limits follow Streamlit's public options."""
    import streamlit as st
    import uvicorn
    from streamlit.web import bootstrap
    # no full gc.collect(2) after every script run (.streamlit/config.toml says why); a caller may override
    bootstrap.load_config_options({"runner.postScriptGC": False, **options})
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").setLevel(logging.ERROR)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, use_colors=False,
                ws_max_size=int(st.get_option("server.maxMessageSize")) * 1024 * 1024,
                ws_per_message_deflate=bool(st.get_option("server.enableWebsocketCompression")))
