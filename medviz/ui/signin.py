"""Who is using the app: the sign-in gate ``app.py`` runs before any page, and the identity part of the sidebar.

Three modes (``medviz.auth.auth_mode``):

- ``oidc`` (an ``[auth]`` block in secrets): a visitor who has not signed in sees the sign-in page and
  nothing else -- no navigation, no data, no upload, no download. Signed in: ``auth.from_oidc(st.user)``.
- ``tokens`` (API tokens exist, no ``[auth]``): the same, signing in with a token (kept for this browser
  session only, re-checked on every run so a revoked token stops working at once).
- ``local`` (neither): allowed only when the server listens on loopback; every page says
  ``auth.LOCAL_MODE_NOTICE``. The typed name is remembered per browser in a cookie.

Identity logic lives in ``medviz.auth``; this module only draws it.
"""
from __future__ import annotations

import importlib.util
import urllib.parse

import streamlit as st

from .. import auth
from ..errors import MedvizError
from .text import js_literal, md

COOKIE = "medviz_reviewer"
_NAME = "reviewer_name_set"           # the typed name (local mode), for this session
_TOKEN = "_medviz_token"              # the token signed in with (tokens mode), for this session
_REMEMBER = "_medviz_remember"        # a cookie to write on the next run ("" = forget)
_COOKIE_DAYS = 365


def secrets():
    try:
        return st.secrets
    except Exception:  # noqa: BLE001 - no secrets file at all
        return {}


def serving_host() -> str:
    """The address the server listens on (``medviz serve --host`` sets ``server.address``)."""
    try:
        return st.get_option("server.address") or ""
    except Exception:  # noqa: BLE001 - option unknown outside a server
        return ""


def mode(store) -> str:
    return auth.auth_mode(secrets(), serving_host(), store)


def gate(store):
    """Run before any page: returns the principal (``None`` in local mode until a name is typed), or draws the
    sign-in page and stops the script. A MedvizError (an identity provider without e-mail or subject, ...)
    is shown and stops the script too: nothing after the gate runs without an identity decision."""
    try:
        m = mode(store)
        if m == "oidc":
            return _oidc()
        if m == "tokens":
            return _token(store)
        return _local()
    except MedvizError as e:
        st.error(md(e))
        st.stop()


def app_gate():
    """``gate`` on the app's store (app.py calls this first). A store that cannot be opened is left to the
    sidebar's message; the mode then comes from the secrets alone."""
    from . import data
    try:
        store = data.store(data.db_path())
    except MedvizError:
        store = None
    return gate(store)


# --- oidc -------------------------------------------------------------------------------------------------------

def _providers() -> list[str]:
    try:
        block = dict(secrets().get("auth", {}))
    except Exception:  # noqa: BLE001
        return []
    return [k for k, v in block.items() if hasattr(v, "keys")]


def _oidc():
    if importlib.util.find_spec("authlib") is None:
        st.title("Sign in")
        st.error("Sign-in is configured (an [auth] block in .streamlit/secrets.toml) but Authlib is not installed "
                 "on this server. Install it with `pip install 'medviz[auth]'` and restart medviz.")
        st.stop()
    if not st.user.is_logged_in:
        st.title("medviz")
        st.subheader("Sign in to continue")
        st.write("This medviz server holds clinical review data. Sign in with your organisation's account.")
        providers = _providers()
        if providers:
            for p in providers:
                st.button(f"Sign in with {p}", key=f"signin_{p}", on_click=st.login, args=(p,), type="primary",
                          icon=":material/login:")
        else:
            st.button("Sign in", key="signin", on_click=st.login, type="primary", icon=":material/login:")
        st.stop()
    who = auth.from_oidc(st.user, secrets())
    st.sidebar.caption(f"Signed in as **{md(who.display_name or who.name, inline=True)}** ({who.role})")
    st.sidebar.button("Sign out", on_click=st.logout, key="signout", icon=":material/logout:")
    return who


# --- tokens -----------------------------------------------------------------------------------------------------

def _token(store):
    token = st.session_state.get(_TOKEN)
    if token:
        try:
            who = auth.authenticate_token(store, token)
        except auth.AuthError:
            st.session_state.pop(_TOKEN, None)
            st.session_state["_medviz_signin_error"] = "Your token is no longer valid (revoked?). Sign in again."
        else:
            st.sidebar.caption(f"Signed in as **{md(who.name, inline=True)}** ({who.role}, token)")
            st.sidebar.button("Sign out", key="signout", icon=":material/logout:",
                              on_click=lambda: st.session_state.pop(_TOKEN, None))
            return who
    st.title("medviz")
    st.subheader("Sign in to continue")
    st.write("This server uses API tokens. Paste yours (an admin creates one with "
             "`medviz tokens create --user NAME --role reviewer`).")
    err = st.session_state.pop("_medviz_signin_error", None)
    if err:
        st.error(md(err))
    with st.form("token_signin"):
        typed = st.text_input("Token", type="password", max_chars=auth.MAX_TOKEN)
        if st.form_submit_button("Sign in", type="primary"):
            try:
                auth.authenticate_token(store, typed)
            except auth.AuthError as e:
                st.error(md(e.detail))
            else:
                st.session_state[_TOKEN] = typed.strip()
                st.rerun()
    st.stop()


# --- local mode ---------------------------------------------------------------------------------------------------

def remembered_name(cookies) -> str | None:
    """The name this browser remembered (cookie), if it is still a valid local name."""
    try:
        raw = cookies.get(COOKIE)
    except Exception:  # noqa: BLE001 - no request context (tests)
        return None
    if not raw:
        return None
    try:
        return auth.local(urllib.parse.unquote(raw)).name
    except MedvizError:
        return None


def cookie_script(name: str | None) -> str:
    """JavaScript that remembers ``name`` in this browser (``None``: forgets it); the name goes in as a
    ``js_literal``, so no name can end the script or inject markup."""
    value, age = ('""', 0) if name is None else (js_literal(name), _COOKIE_DAYS * 86400)
    return (f"<script>document.cookie = {js_literal(COOKIE)} + '=' + encodeURIComponent({value}) + "
            f"'; path=/; max-age={age}; SameSite=Strict';</script>")


def _remember(name: str | None) -> None:
    st.session_state[_REMEMBER] = "" if name is None else name


def _forget_name() -> None:
    st.session_state[_NAME] = False          # False: do not take the name back from the cookie this session
    _remember(None)


def _local():
    host = serving_host()
    if not auth.is_loopback(host):
        try:
            auth.refuse_non_loopback("local", host)
        except MedvizError as e:
            st.title("medviz")
            st.error(md(e))
            st.stop()
    st.sidebar.caption(f":material/warning: **{auth.LOCAL_MODE_NOTICE}**")
    pending = st.session_state.pop(_REMEMBER, None)
    if pending is not None:
        with st.sidebar:
            st.html(cookie_script(pending or None), unsafe_allow_javascript=True)
    name = st.session_state.get(_NAME)
    if not name and name is not False:
        name = remembered_name(st.context.cookies)
        if name:
            st.session_state[_NAME] = name
    if name:
        who = auth.local(name, secrets())
        st.sidebar.caption(f"Reviewer: **{md(name, inline=True)}** ({who.role})")
        st.sidebar.button("Change reviewer", key="reviewer_change", icon=":material/person:", on_click=_forget_name)
        return who
    typed = st.sidebar.text_input("Your name (reviewer)", key="reviewer_name_input", max_chars=auth.MAX_NAME,
                                  placeholder="e.g. Dr A. Rivera", help="Recorded with every tag you save; "
                                  "remembered in this browser.")
    if typed:
        try:
            who = auth.local(typed, secrets())
        except MedvizError as e:
            st.sidebar.error(md(e.detail))
            return None
        st.session_state[_NAME] = who.name
        _remember(who.name)
        st.rerun()
    return None
