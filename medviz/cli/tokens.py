"""``medviz tokens create|list|revoke``: API tokens, against the database file (no server running).

The person running these commands opens the file itself, so they act as its owner (``auth.file_owner()``,
an admin). With a server running, token management goes through the API with an admin token.
"""
from __future__ import annotations

import json
import sys

import pandas as pd

from ..auth import ROLES, create_token, file_owner, list_tokens, revoke_token, token_id_of
from ._common import db_arg, open_store


def _remote(args) -> int | None:
    """With a server running, token management goes through its API with an admin token (cli.remote)."""
    from .remote import client_for, run_tokens
    client = client_for(args)
    return None if client is None else run_tokens(client, args)


def cmd_create(args) -> int:
    if (rc := _remote(args)) is not None:
        return rc
    from ..writer import close_store_writer
    with open_store(args) as store:
        try:
            token = create_token(store, args.user, args.role, by=file_owner())
        finally:
            close_store_writer(store)
    print(f"token {token_id_of(token)} for '{args.user}' ({args.role}). It is shown once and stored only as a hash: "
          "keep it now (e.g. MEDVIZ_TOKEN) and send it as 'Authorization: Bearer <token>'.", file=sys.stderr)
    print(token)
    return 0


def _when(v) -> str:
    return "-" if v is None or pd.isna(v) else pd.Timestamp(v).strftime("%Y-%m-%d %H:%M")


def cmd_list(args) -> int:
    if (rc := _remote(args)) is not None:
        return rc
    with open_store(args) as store:
        df = list_tokens(store, by=file_owner())
    if args.json:
        rows = [{k: (None if v is None or (not isinstance(v, str) and pd.isna(v)) else
                     (pd.Timestamp(v).isoformat() if k.endswith("_at") else v)) for k, v in r.items()}
                for r in df.to_dict("records")]
        print(json.dumps(rows, indent=2))
        return 0
    if df.empty:
        print("no tokens (create one with `medviz tokens create --user NAME --role reviewer`)")
        return 0
    print(f"{'id':<14}{'user':<28}{'role':<13}{'created':<18}{'by':<16}{'last used':<18}status")
    for r in df.itertuples():
        status = "active" if pd.isna(r.revoked_at) else f"revoked {_when(r.revoked_at)} by {r.revoked_by}"
        print(f"{r.token_id:<14}{r.user_name[:27]:<28}{r.role:<13}{_when(r.created_at):<18}{r.created_by[:15]:<16}"
              f"{_when(r.last_used_at):<18}{status}")
    return 0


def cmd_revoke(args) -> int:
    if (rc := _remote(args)) is not None:
        return rc
    from ..writer import close_store_writer
    with open_store(args) as store:
        try:
            revoke_token(store, args.token_id, by=file_owner())
        finally:
            close_store_writer(store)
    print(f"revoked token {args.token_id}")
    return 0


def _command(sub, name: str, help_text: str, func):
    p = sub.add_parser(name, help=help_text)
    db_arg(p, remote=True)
    p.set_defaults(func=func)
    return p


def register(subparsers) -> None:
    s = subparsers.add_parser("tokens", help="API tokens: create (shown once), list, revoke")
    sub = s.add_subparsers(dest="tokens_command", required=True)
    create = _command(sub, "create", "create a token for a user and print it once", cmd_create)
    create.add_argument("--user", required=True, help="the name annotations will record (e.g. an e-mail)")
    create.add_argument("--role", required=True, choices=ROLES)
    _command(sub, "list", "list tokens (never the secret)", cmd_list).add_argument("--json", action="store_true")
    _command(sub, "revoke", "revoke a token by its id", cmd_revoke).add_argument("token_id")
