"""Who is acting, and what each role may do: principals, tokens, roles. Checked by the domain layer.

A ``Principal`` is only ever *issued* by this module:

- ``authenticate_token(store, bearer)`` -- an API call carrying ``Authorization: Bearer <token>``;
- ``from_oidc(user, secrets)``          -- the app after ``st.login`` (``st.user``), e-mail as the name;
- ``local(name, secrets)``              -- local mode (no ``[auth]``; loopback only): the typed name;
- ``file_owner()``                      -- the CLI opening the DuckDB file itself (no server): admin.

The domain layer (``medviz.annotations``, token management) calls ``check(principal)`` (or ``require``),
which refuses anything this module did not issue: building ``Principal("Mallory", role="admin")``
yourself, or ``dataclasses.replace``-ing an issued one, grants nothing (``AuthError``). Issued principals
are remembered by identity (a weak registry), so a copy with a changed role is not one of them.

Roles, lowest to highest: ``reviewer`` (annotates; revises and retracts only their own annotations),
``adjudicator`` (also settles disagreements), ``admin`` (also publishes taxonomies, imports annotations on
others' behalf, manages tokens). A higher role may do what a lower one may.

Where roles come from: tokens carry the role they were created with. OIDC and local names get
``adjudicator``/``admin`` when listed in Streamlit secrets (``[medviz] adjudicators = [...]``,
``admins = [...]``) or in the environment (``MEDVIZ_ADJUDICATORS``, ``MEDVIZ_ADMINS``, comma-separated);
everyone else is a ``reviewer``.

The domain verbs that take a principal (the server passes the request's principal; the CLI without a
server passes ``file_owner()``)::

    writer = medviz.annotations.get_writer(store)
    writer.save(annotation, by)                  # new annotation or next revision; author = by.name
    writer.retract(annotation_id, by)            # author only
    writer.adjudicate(annotation, by, settles)   # adjudicators (and admins)
    medviz.annotations.publish_taxonomy(store, taxonomy, by)     # admins
    medviz.export.import_annotations(store, path, by=by)         # others' authors kept only for admins
    create_token / list_tokens / revoke_token(store, ..., by=by) # admins

Errors: ``AuthError`` (401) and ``Forbidden`` (403), both ``MedvizError`` with ``http_status``.

Tokens are stored as SHA-256 hashes (``medviz.store.tokens``); the plaintext is shown once, by
``create_token``, and is nowhere in the database.
"""
from __future__ import annotations

import hashlib
import ipaddress
import os
import secrets as _secrets
import threading
import unicodedata
import weakref
from dataclasses import dataclass
from datetime import datetime, timezone

from .errors import MedvizError

REVIEWER, ADJUDICATOR, ADMIN = "reviewer", "adjudicator", "admin"
ROLES = (REVIEWER, ADJUDICATOR, ADMIN)
_RANK = {r: i for i, r in enumerate(ROLES)}
SOURCES = ("token", "oidc", "local", "file")
SYNTHETIC_REVIEWER = "example (synthetic)"
FILE_OWNER = "file owner"
MAX_NAME = 120
MAX_TOKEN = 200
TOKEN_PREFIX = "mvz_"
LOCAL_MODE_NOTICE = "local mode: anyone at this machine can act under any name"


class AuthError(MedvizError):
    """Not signed in, or the credentials are not valid (HTTP 401)."""
    http_status = 401


class Forbidden(MedvizError):
    """Signed in, but this principal may not do this (HTTP 403)."""
    http_status = 403


@dataclass(frozen=True)
class Principal:
    """Someone acting on the store. Only this module's functions issue valid ones (see ``check``)."""
    name: str                        # what annotations record as ``reviewer``
    role: str = REVIEWER             # 'reviewer' | 'adjudicator' | 'admin'
    source: str = "local"            # 'token' | 'oidc' | 'local' | 'file'
    display_name: str | None = None

    @property
    def is_adjudicator(self) -> bool:
        return _RANK.get(self.role, -1) >= _RANK[ADJUDICATOR]

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN

    def may(self, role: str) -> bool:
        """Whether this principal's role is ``role`` or higher."""
        return _RANK.get(self.role, -1) >= _RANK[role]


# --- issuing and checking ----------------------------------------------------------------------------------
_issued: dict[int, tuple] = {}      # id(principal) -> (weakref, (name, role, source, display_name))
_issued_lock = threading.RLock()     # re-entrant: a weakref callback may run inside a locked region (GC)


def _forget(key: int):
    def cb(_ref):
        with _issued_lock:
            entry = _issued.get(key)
            if entry is not None and entry[0]() is None:
                del _issued[key]
    return cb


def _issue(name: str, role: str, source: str, display_name: str | None = None) -> Principal:
    if role not in ROLES or source not in SOURCES:
        raise ValueError(f"bad role/source {role!r}/{source!r}")
    p = Principal(name=name, role=role, source=source, display_name=display_name or name)
    key = id(p)
    with _issued_lock:
        _issued[key] = (weakref.ref(p, _forget(key)), (p.name, p.role, p.source, p.display_name))
    return p


def is_issued(principal) -> bool:
    if type(principal) is not Principal:
        return False
    with _issued_lock:
        entry = _issued.get(id(principal))
    return (entry is not None and entry[0]() is principal
            and entry[1] == (principal.name, principal.role, principal.source, principal.display_name))


def check(principal) -> Principal:
    """The principal, if this module issued it; else ``AuthError`` (not signed in / not a real identity)."""
    if principal is None:
        raise AuthError("sign in first: this action needs an identity")
    if not is_issued(principal):
        who = getattr(principal, "name", principal)
        raise AuthError(f"'{who}' is not a signed-in identity (principals are issued by medviz.auth: a token, "
                        "single sign-on, local mode or the database file's owner)", field="reviewer")
    return principal


def require(principal, role: str, what: str) -> Principal:
    """``check`` plus: the principal's role is ``role`` or higher, else ``Forbidden`` naming ``what``."""
    p = check(principal)
    if not p.may(role):
        raise Forbidden(f"only {role}s may {what}; '{p.name}' is a {p.role}", field="reviewer")
    return p


# --- names and configured roles ----------------------------------------------------------------------------

def clean_name(name) -> str:
    """A person's name: trimmed, NFC-normalised, printable, 1..120 characters."""
    if not isinstance(name, str):
        raise MedvizError("reviewer name must be text", field="reviewer")
    n = unicodedata.normalize("NFC", " ".join(name.split()))
    if not n:
        raise MedvizError("enter a reviewer name", field="reviewer")
    if len(n) > MAX_NAME:
        raise MedvizError(f"reviewer name is longer than {MAX_NAME} characters", field="reviewer")
    if any(unicodedata.category(c).startswith("C") for c in n):
        raise MedvizError("reviewer name contains control characters", field="reviewer")
    return n


def _listed(secrets, key: str, env: str) -> set[str]:
    out = {s.strip().lower() for s in os.environ.get(env, "").split(",") if s.strip()}
    try:
        listed = (secrets or {}).get("medviz", {}).get(key, [])
    except Exception:  # noqa: BLE001 - a secrets object without that section
        listed = []
    if isinstance(listed, str):
        listed = listed.split(",")
    return out | {str(a).strip().lower() for a in listed if str(a).strip()}


def adjudicators_from_config(secrets=None) -> set[str]:
    """Adjudicator names/e-mails (lower-cased): secrets ``[medviz] adjudicators`` + env ``MEDVIZ_ADJUDICATORS``."""
    return _listed(secrets, "adjudicators", "MEDVIZ_ADJUDICATORS")


def admins_from_config(secrets=None) -> set[str]:
    """Admin names/e-mails (lower-cased): secrets ``[medviz] admins`` + env ``MEDVIZ_ADMINS``."""
    return _listed(secrets, "admins", "MEDVIZ_ADMINS")


def configured_role(name: str, secrets=None, *, adjudicators=None, admins=None) -> str:
    """The role configuration gives ``name`` (lists default to secrets + environment)."""
    key = name.strip().lower()
    adm = {a.strip().lower() for a in (admins if admins is not None else admins_from_config(secrets))}
    if key in adm:
        return ADMIN
    adj = {a.strip().lower() for a in (adjudicators if adjudicators is not None
                                        else adjudicators_from_config(secrets))}
    return ADJUDICATOR if key in adj else REVIEWER


# --- the issuers -----------------------------------------------------------------------------------------------

def local(name: str, secrets=None, *, adjudicators=None, admins=None) -> Principal:
    """Local mode (no ``[auth]``, server on loopback): the name the person typed; role from configuration.

    Anyone at this machine can act under any name in this mode -- the UI says so on every page.
    The synthetic demo name is reserved.
    """
    n = clean_name(name)
    if n.lower() in (SYNTHETIC_REVIEWER, FILE_OWNER) or n.lower().endswith("(synthetic)"):
        raise MedvizError(f"'{n}' is reserved; choose your own name", field="reviewer")
    return _issue(n, configured_role(n, secrets, adjudicators=adjudicators, admins=admins), "local", n)


def from_oidc(user, secrets=None, *, adjudicators=None, admins=None) -> Principal:
    """From ``st.user`` (or a mapping of OIDC claims): the e-mail (lower-cased) if present, else sub@iss."""
    get = user.get if hasattr(user, "get") else (lambda k, d=None: getattr(user, k, d))
    if not get("is_logged_in", True):
        raise AuthError("sign in first", field="reviewer")
    email, sub = get("email"), get("sub")
    if email:
        name = clean_name(str(email)).lower()
    elif sub:
        name = clean_name(f"{sub}@{get('iss') or 'oidc'}")
    else:
        raise AuthError("the identity provider returned neither an e-mail nor a subject claim", field="reviewer")
    display = get("name") or name
    role = configured_role(name, secrets, adjudicators=adjudicators, admins=admins)
    return _issue(name, role, "oidc", str(display))


def file_owner() -> Principal:
    """The person running the CLI on the database file itself (no server): they hold the file, so admin."""
    try:
        import getpass
        who = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in this environment
        who = ""
    return _issue(FILE_OWNER, ADMIN, "file", f"{FILE_OWNER} ({who})" if who else FILE_OWNER)


# --- tokens ------------------------------------------------------------------------------------------------------

def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def token_id_of(token: str) -> str:
    """The public id inside a token (``mvz_<id>_<secret>``): what ``list``/``revoke`` show and take."""
    parts = token.split("_", 2)
    return parts[1] if len(parts) == 3 and token.startswith(TOKEN_PREFIX) else ""


def create_token(store, user: str, role: str, *, by: Principal) -> str:
    """A new API token ``mvz_<id>_<secret>`` for ``user`` with ``role`` (admins only).

    Show it to the person once; only its SHA-256 hash is stored. ``token_id_of(token)`` gives its id.
    """
    from .store import tokens as sql
    p = require(by, ADMIN, "manage tokens")
    name = clean_name(user)
    if role not in ROLES:
        raise MedvizError(f"unknown role '{role}' (choose {', '.join(ROLES)})", field="role")
    from .writer import execute_write_fn
    token_id = _secrets.token_hex(6)
    token = f"{TOKEN_PREFIX}{token_id}_{_secrets.token_urlsafe(32)}"
    digest, now = _hash(token), _now()
    execute_write_fn(store, lambda tx: sql.insert_token(tx, token_id, digest, name, role, now, p.name))
    return token


def list_tokens(store, *, by: Principal):
    """Every token (never the secret): id, user, role, created_at/by, last_used_at, revoked_at/by (admins only)."""
    from .store import tokens as sql
    require(by, ADMIN, "manage tokens")
    return sql.list_tokens(store.cursor())


def revoke_token(store, token_id: str, *, by: Principal) -> None:
    """Revoke a token by its id (admins only); later calls with it get 401."""
    from .store import tokens as sql
    from .writer import execute_write_fn
    p = require(by, ADMIN, "manage tokens")
    tid = str(token_id).strip()

    def revoke(tx):
        row = sql.get_token(tx, tid)
        if row is None:
            raise MedvizError(f"no token with id '{tid}' (see `medviz tokens list`)", record=tid, field="token_id")
        if row["revoked_at"] is not None:
            raise MedvizError(f"token '{tid}' is already revoked", record=tid, field="token_id")
        sql.revoke_token(tx, tid, _now(), p.name)
    execute_write_fn(store, revoke)


def authenticate_token(store, bearer: str | None) -> Principal:
    """The principal of a bearer token (``"Bearer mvz_..."`` or the bare token); ``AuthError`` if not valid."""
    from .store import tokens as sql
    if not bearer or not isinstance(bearer, str):
        raise AuthError("sign in first: send 'Authorization: Bearer <token>' (see `medviz tokens create`)")
    token = bearer.strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    if not token or len(token) > MAX_TOKEN:
        raise AuthError("not a valid token")
    row = sql.find_token(store.cursor(), _hash(token))
    if row is None or row["revoked_at"] is not None:
        raise AuthError("not a valid token (unknown or revoked)")
    sql.touch_token(store, row["token_id"], _now())
    return _issue(row["user_name"], row["role"], "token", row["user_name"])


def known_role(store, name: str, secrets=None) -> str:
    """The highest role ``name`` holds: configuration, or an active token issued to that name."""
    from .store import tokens as sql
    role = configured_role(name, secrets)
    for r in sql.active_roles(store.cursor(), name):
        if _RANK.get(r, -1) > _RANK[role]:
            role = r
    return role


# --- which mode the server runs in ----------------------------------------------------------------------------

def auth_configured(secrets) -> bool:
    """Whether Streamlit secrets hold an ``[auth]`` block (OIDC sign-in)."""
    try:
        block = (secrets or {}).get("auth")
    except Exception:  # noqa: BLE001 - secrets file missing or unreadable
        return False
    return bool(block)


def auth_mode(secrets, host: str | None = None, store=None) -> str:
    """``"oidc"`` when ``[auth]`` is configured, else ``"tokens"`` once any token has been created in the
    store (revoking them all does not reopen local mode: nobody signs in until an admin creates a new one),
    else ``"local"``. ``host`` is accepted for symmetry with ``refuse_non_loopback``."""
    if auth_configured(secrets):
        return "oidc"
    if store is not None:
        from .store import tokens as sql
        if sql.any_token(store.cursor()):
            return "tokens"
    return "local"


def is_loopback(host: str) -> bool:
    h = (host or "").strip().strip("[]").lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def refuse_non_loopback(mode: str, host: str) -> None:
    """Local mode lets anyone act under any name, so it is allowed only on a loopback address."""
    if mode == "local" and not is_loopback(host):
        where = host if host and host not in ("0.0.0.0", "::") else "every interface"
        raise MedvizError(
            f"refusing to listen on {where} in local mode ({LOCAL_MODE_NOTICE}). Configure sign-in "
            "(an [auth] block in .streamlit/secrets.toml), or create API tokens (`medviz tokens create --user "
            "NAME --role admin`), or listen on 127.0.0.1.", field="host")
