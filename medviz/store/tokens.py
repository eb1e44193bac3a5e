"""API tokens: schema and every SQL statement about them (``medviz.auth`` is the only caller).

Only the SHA-256 hash of a token is stored, never the token. A revoked token keeps its row (who revoked
it and when) so ``medviz tokens list`` shows the history.
"""
from __future__ import annotations

import threading
import time

import pandas as pd

from .db import first_row

MIGRATIONS = [
    """
    CREATE TABLE api_tokens (
        token_id VARCHAR PRIMARY KEY,
        token_sha256 VARCHAR NOT NULL UNIQUE,
        user_name VARCHAR NOT NULL,
        role VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL,
        created_by VARCHAR NOT NULL,
        last_used_at TIMESTAMP,
        revoked_at TIMESTAMP,
        revoked_by VARCHAR)
    """,
]

_LIST_COLUMNS = "token_id, user_name, role, created_at, created_by, last_used_at, revoked_at, revoked_by"
_TOUCH_EVERY_S = 60.0          # last_used_at is refreshed at most once a minute per token (it is a write)
_touched: dict[str, float] = {}
_touched_lock = threading.Lock()


def _row(cur, sql: str, params) -> dict | None:
    r = first_row(cur.execute(sql, params))
    if r is None:
        return None
    return dict(zip([d[0] for d in cur.description], r))


def insert_token(tx, token_id: str, token_sha256: str, user_name: str, role: str, created_at, created_by: str):
    tx.execute("INSERT INTO api_tokens (token_id, token_sha256, user_name, role, created_at, created_by) "
               "VALUES (?, ?, ?, ?, ?, ?)", [token_id, token_sha256, user_name, role, created_at, created_by])


def get_token(cur, token_id: str) -> dict | None:
    return _row(cur, f"SELECT {_LIST_COLUMNS} FROM api_tokens WHERE token_id = ?", [token_id])


def find_token(cur, token_sha256: str) -> dict | None:
    return _row(cur, f"SELECT {_LIST_COLUMNS} FROM api_tokens WHERE token_sha256 = ?", [token_sha256])


def list_tokens(cur) -> pd.DataFrame:
    return cur.execute(f"SELECT {_LIST_COLUMNS} FROM api_tokens ORDER BY created_at, token_id").df()


def revoke_token(tx, token_id: str, revoked_at, revoked_by: str) -> None:
    tx.execute("UPDATE api_tokens SET revoked_at = ?, revoked_by = ? WHERE token_id = ? AND revoked_at IS NULL",
               [revoked_at, revoked_by, token_id])


def active_roles(cur, user_name: str) -> list[str]:
    return [r[0] for r in cur.execute(
        "SELECT DISTINCT role FROM api_tokens WHERE lower(user_name) = lower(?) AND revoked_at IS NULL",
        [user_name]).fetchall()]


def any_token(cur) -> bool:
    """Whether a token was ever created (revoked ones count: tokens mode, once chosen, stays)."""
    return first_row(cur.execute("SELECT count(*) FROM api_tokens"))[0] > 0


def touch_token(store, token_id: str, used_at) -> None:
    """Record ``last_used_at`` (best effort, at most once a minute per token: it must not slow every call)."""
    now = time.monotonic()
    with _touched_lock:
        if now - _touched.get(token_id, -1e9) < _TOUCH_EVERY_S:
            return
        _touched[token_id] = now
    if getattr(store, "read_only", False):
        return
    from ..writer import execute_write_fn

    def touch(tx):
        tx.execute("UPDATE api_tokens SET last_used_at = ? WHERE token_id = ?", [used_at, token_id])
    try:
        execute_write_fn(store, touch)          # through the one writer; at most once a minute per token
    except Exception:  # noqa: BLE001 - recording the use is best effort: never fail the caller's request
        pass
