"""Who is annotating, and what each role may do. Logic only: the app signs people in.

Two ways to know a reviewer (the UI picks one):
- OIDC: when Streamlit secrets hold an ``[auth]`` block, the app calls ``st.login()`` and passes
  ``st.user`` to ``reviewer_from_user`` (the e-mail, or the ``sub`` claim, is the stable reviewer name);
- local single-site mode: the reviewer types a name once per session (``local_reviewer``).

Roles: every signed-in person is a ``reviewer``; names/e-mails listed as adjudicators (secrets
``[medviz] adjudicators = [...]`` -- pass ``adjudicators_from_config(st.secrets)`` -- or env
``MEDVIZ_ADJUDICATORS``, comma-separated, read by default) are ``adjudicator``s,
who may also settle disagreements and publish taxonomy versions. Nobody, adjudicators included, alters
another reviewer's annotations: an adjudication is its own annotation.
"""
from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass

from ..errors import MedvizError

REVIEWER, ADJUDICATOR = "reviewer", "adjudicator"
ROLES = (REVIEWER, ADJUDICATOR)
SYNTHETIC_REVIEWER = "example (synthetic)"
MAX_NAME = 120


@dataclass(frozen=True)
class Reviewer:
    name: str                   # what annotations record as ``reviewer``
    role: str = REVIEWER
    display_name: str | None = None
    source: str = "local"       # 'oidc' | 'local'

    @property
    def is_adjudicator(self) -> bool:
        return self.role == ADJUDICATOR


def clean_name(name) -> str:
    """A reviewer name: trimmed, NFC-normalised, printable, 1..120 characters."""
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


def adjudicators_from_env(value: str | None = None) -> set[str]:
    raw = os.environ.get("MEDVIZ_ADJUDICATORS", "") if value is None else value
    return {s.strip().lower() for s in raw.split(",") if s.strip()}


def adjudicators_from_config(secrets=None) -> set[str]:
    """Adjudicator names/e-mails from Streamlit secrets (``[medviz] adjudicators = [...]``, pass
    ``st.secrets``) plus env ``MEDVIZ_ADJUDICATORS``; lower-cased."""
    out = adjudicators_from_env()
    try:
        listed = (secrets or {}).get("medviz", {}).get("adjudicators", [])
    except Exception:  # noqa: BLE001 - a secrets object without that section
        listed = []
    if isinstance(listed, str):
        listed = listed.split(",")
    return out | {str(a).strip().lower() for a in listed if str(a).strip()}


def role_for(name: str, adjudicators=None) -> str:
    adj = {a.strip().lower() for a in (adjudicators if adjudicators is not None else adjudicators_from_env())}
    return ADJUDICATOR if name.strip().lower() in adj else REVIEWER


def local_reviewer(name: str, adjudicators=None) -> Reviewer:
    """Local single-site mode: the name the person typed. The synthetic demo name is reserved."""
    n = clean_name(name)
    if n.lower() == SYNTHETIC_REVIEWER:
        raise MedvizError(f"'{SYNTHETIC_REVIEWER}' is reserved for the demo data; choose your own name",
                          field="reviewer")
    return Reviewer(name=n, role=role_for(n, adjudicators), display_name=n, source="local")


def reviewer_from_user(user, adjudicators=None) -> Reviewer:
    """From ``st.user`` (or any mapping of OIDC claims): e-mail if present, else issuer + subject."""
    get = user.get if hasattr(user, "get") else (lambda k, d=None: getattr(user, k, d))
    if get("is_logged_in", True) is False:
        raise MedvizError("sign in first", field="reviewer")
    email, sub = get("email"), get("sub")
    if email:
        name = clean_name(str(email)).lower()
    elif sub:
        iss = get("iss") or "oidc"
        name = clean_name(f"{sub}@{iss}")
    else:
        raise MedvizError("the identity provider returned neither an e-mail nor a subject claim", field="reviewer")
    display = get("name") or name
    return Reviewer(name=name, role=role_for(name, adjudicators), display_name=str(display), source="oidc")


# --- the rules -----------------------------------------------------------------------------------------

def _name(who) -> str:
    return who.name if isinstance(who, Reviewer) else str(who)


def can_edit(who, owner: str) -> bool:
    """Only the author of an annotation may revise or retract it."""
    return _name(who) == owner


def require_edit(who, owner: str, annotation_id: str) -> None:
    if not can_edit(who, owner):
        raise MedvizError(f"annotation {annotation_id} belongs to reviewer '{owner}'; nobody else may change "
                          "it (add your own annotation instead)", record=annotation_id, field="reviewer")


def can_adjudicate(who) -> bool:
    return isinstance(who, Reviewer) and who.is_adjudicator


def require_adjudicator(who, what: str = "settle disagreements") -> None:
    if not can_adjudicate(who):
        raise MedvizError(f"only adjudicators may {what}; '{_name(who)}' is a reviewer", field="reviewer")


def can_edit_taxonomy(who) -> bool:
    return can_adjudicate(who)
