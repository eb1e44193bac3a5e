"""``medviz serve``: one process owns the store and serves the app, the REST API and background jobs.

Streamlit's ASGI entry point (``st.App(script, routes=..., lifespan=...)``) served by uvicorn, with the
FastAPI app of ``medviz.api`` mounted under ``/api/v1`` on the same port. The lifespan hook opens the store
(once, for the whole process), starts the job runner, writes ``<db>.server.json`` beside the database (so a
CLI started later finds the server instead of failing on the file lock) and warms the app's caches.

The Streamlit pages run in this same process and use the same ``Store`` object: ``served_store(path)``
returns it, and ``medviz.ui.data.store()`` asks for it before opening a file itself.
"""
from __future__ import annotations

import json
import logging
import os
import re
import threading
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from .errors import MedvizError

API_PREFIX = "/api/v1"
DEFAULT_MAX_UPLOAD_MB = 200
_log = logging.getLogger("medviz.server")


@dataclass
class ServerState:
    """What the API routes need: the one store, the job runner and the settings of this server."""
    db_path: str
    host: str = "127.0.0.1"
    port: int = 8501
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_MB * 1024 * 1024
    secrets: dict = field(default_factory=dict)
    store: object = None
    jobs: object = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else ("[::1]" if self.host == "::" else self.host)
        return f"http://{host}:{self.port}"


_current: ServerState | None = None
_current_lock = threading.Lock()


def current() -> ServerState | None:
    """The running server's state in this process (None outside ``medviz serve``)."""
    return _current


def served_store(path: str | None = None):
    """The store ``medviz serve`` opened, when this process is that server (and ``path`` is its file)."""
    s = _current
    if s is None or s.store is None:
        return None
    if path is not None and os.path.abspath(path) != os.path.abspath(s.db_path):
        return None
    return s.store


# --- the file that tells other processes a server owns this database -------------------------------------

def server_file(db_path: str) -> str:
    return os.path.abspath(db_path) + ".server.json"


def _write_server_file(state: ServerState) -> None:
    path = server_file(state.db_path)
    tmp = path + f".{os.getpid()}.part"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"url": state.url, "pid": os.getpid(), "db": os.path.abspath(state.db_path)}, f)
    os.replace(tmp, path)


def _remove_server_file(state: ServerState) -> None:
    path = server_file(state.db_path)
    try:
        with open(path, encoding="utf-8") as f:
            if json.load(f).get("pid") != os.getpid():
                return
        os.remove(path)
    except (OSError, ValueError):
        pass


def running_server(db_path: str) -> str | None:
    """URL of the medviz server that owns ``db_path``, if one is running (a stale file is ignored)."""
    try:
        with open(server_file(db_path), encoding="utf-8") as f:
            info = json.load(f)
        pid, url = int(info["pid"]), str(info["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return url


# --- startup and shutdown ----------------------------------------------------------------------------------

def open_state(state: ServerState) -> ServerState:
    """Open the store, start the job runner, publish the state (the lifespan's startup half)."""
    global _current
    from .jobs import JobRunner
    from .store import Store
    if state.store is None:
        state.store = Store(state.db_path)
    state.jobs = JobRunner(state.store)
    state.jobs.on_finish.append(lambda job: app_data_changed("annotations" if job["kind"] == "export" else "data"))
    if state.jobs.recovered:
        _log.warning("%d job(s) left running by a stopped server were marked failed", state.jobs.recovered)
    if state.jobs.resumed:
        _log.warning("%d job(s) left queued by a stopped server were started again", state.jobs.resumed)
    with _current_lock:
        _current = state
    _write_server_file(state)
    return state


def app_data_changed(what: str = "data") -> None:
    """The store changed behind the app's back (an API write, a finished job): drop the app's cached query
    results so the next page view reads the new data. ``what``: "annotations" clears only what depends
    on annotations; anything else clears every cached query."""
    if _current is None:
        return
    from .ui import data
    if what == "annotations":
        data.after_write()
    else:
        from .ui.asgi import clear_cached_queries
        clear_cached_queries()


def close_state(state: ServerState) -> None:
    global _current
    with _current_lock:
        if _current is state:
            _current = None
    _remove_server_file(state)
    if state.jobs is not None:
        state.jobs.close()
    if state.store is not None:
        from .encoders.maps import flush_refreshes
        flush_refreshes(state.store)          # maps of vectors pushed just before: stored, not left stale
        from .annotations.writer import close_writer
        close_writer(state.store)
        closer = getattr(state.store, "close_writer", None)
        if callable(closer):
            closer()
        state.store.close()


def _warm_caches(state: ServerState) -> None:
    try:
        from .ui import data
        data.warm_up(state.db_path)
    except Exception:  # noqa: BLE001 - warming is an optimisation; pages compute on demand anyway
        _log.debug("cache warm-up failed", exc_info=True)


def _secrets_file() -> dict:
    """.streamlit/secrets.toml (cwd, then home) before Streamlit has started, for the mode check."""
    import tomllib
    for p in (os.path.join(os.getcwd(), ".streamlit", "secrets.toml"),
              os.path.join(os.path.expanduser("~"), ".streamlit", "secrets.toml")):
        if os.path.exists(p):
            try:
                with open(p, "rb") as f:
                    return tomllib.load(f)
            except (OSError, ValueError) as e:
                raise MedvizError(f"not a readable secrets file ({e})", file=p) from None
    return {}


def build_app(state: ServerState, script: str | None = None):
    """The ASGI app: Streamlit (``script``, default the repository's app.py) + ``/api/v1``."""
    from starlette.routing import Mount

    from .api import create_api

    script = os.path.abspath(script or os.path.join(os.path.dirname(os.path.dirname(__file__)), "app.py"))
    if not os.path.exists(script):
        raise MedvizError("the app script is missing (medviz serve runs app.py of the medviz checkout)",
                          file=script)
    api = create_api(state)

    @asynccontextmanager
    async def lifespan(_app):
        if state.store is None:          # started by uvicorn directly rather than serve()
            from .store import Store
            from .ui.asgi import secrets
            state.secrets = secrets()
            state.store = Store(state.db_path)
            _check_mode(state)
        open_state(state)
        threading.Thread(target=_warm_caches, args=(state,), daemon=True, name="medviz-warmup").start()
        try:
            yield {"medviz": state}
        finally:
            close_state(state)

    mount = Mount(API_PREFIX, app=api)
    # Starlette's mount pattern ends in ``(?P<path>.*)``, whose ``.`` stops at a newline: an API path with an
    # encoded line break (%0A) would fall through to Streamlit's plain-text 404. Every /api/v1 path is the API's.
    mount.path_regex = re.compile(mount.path_regex.pattern, re.DOTALL)
    from .ui.asgi import streamlit_app
    return streamlit_app(script, routes=[mount], lifespan=lifespan)


def _check_mode(state: ServerState) -> None:
    """Local mode (no [auth], no tokens) only on loopback: refuse to start otherwise."""
    from . import auth
    auth.refuse_non_loopback(auth.auth_mode(state.secrets, state.host, state.store), state.host)


def serve(db_path: str, *, host: str = "127.0.0.1", port: int = 8501, max_upload_mb: int | None = None,
          script: str | None = None) -> None:
    """Run the server until interrupted (``medviz serve``)."""
    os.environ["MEDVIZ_DB"] = os.path.abspath(db_path)     # the app pages read this to find their store
    mb = max_upload_mb or int(os.environ.get("MEDVIZ_MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB))
    state = ServerState(db_path=os.path.abspath(db_path), host=host, port=port,
                        max_upload_bytes=mb * 1024 * 1024)
    other = running_server(state.db_path)
    if other:
        raise MedvizError(f"a medviz server already owns this database at {other}; use it (or stop it first)",
                          file=state.db_path)
    from .store import Store
    state.store = Store(state.db_path)      # opened here so "in use" and mode errors are plain messages
    try:
        state.secrets = _secrets_file()
        _check_mode(state)
        app = build_app(state, script)
    except BaseException:
        state.store.close()
        raise
    run_uvicorn(app, host, port, {"server.port": port, "server.address": host, "server.headless": True,
                                  "server.maxUploadSize": mb, "browser.gatherUsageStats": False,
                                  "server.fileWatcherType": "none", "server.runOnSave": False})


def run_uvicorn(app, host: str, port: int, options: dict) -> None:
    """Serve the ``st.App`` with uvicorn, which binds the port itself (``st.App.run()`` binds its own socket;
    on this machine every response through it took ~40 ms longer)."""
    from .ui.asgi import run
    print(f"medviz serve: app {state_url(host, port)}/  API {state_url(host, port)}{API_PREFIX}/docs", flush=True)
    run(app, host, port, options)


def state_url(host: str, port: int) -> str:
    return ServerState(db_path="", host=host, port=port).url
