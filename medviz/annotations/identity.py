"""Who may change which annotation. Identities themselves come from ``medviz.auth`` (the only issuer).

``Reviewer`` is ``medviz.auth.Principal``: constructing one yourself (``Reviewer("Mallory",
role="adjudicator")``) grants nothing -- every check below goes through ``auth.check``, which refuses a
principal that ``medviz.auth`` did not issue.

Rules: reviewers revise and retract only their own annotations (adjudicators and admins included: an
adjudication is its own annotation); only adjudicators (and admins) adjudicate; only admins publish
taxonomies, import annotations on others' behalf or manage tokens.
"""
from __future__ import annotations

from .. import auth
from ..auth import (ADJUDICATOR, ADMIN, REVIEWER, SYNTHETIC_REVIEWER, Forbidden, Principal,  # noqa: F401
                    adjudicators_from_config, clean_name)

Reviewer = Principal
ROLES = auth.ROLES
MAX_NAME = auth.MAX_NAME


def local_reviewer(name: str, adjudicators=None, admins=None) -> Principal:
    """Local mode: the name the person typed (``auth.local``). The synthetic demo name is reserved."""
    return auth.local(name, adjudicators=adjudicators, admins=admins)


def reviewer_from_user(user, adjudicators=None, admins=None) -> Principal:
    """From ``st.user`` (``auth.from_oidc``): e-mail if present, else subject@issuer."""
    return auth.from_oidc(user, adjudicators=adjudicators, admins=admins)


def role_for(name: str, adjudicators=None) -> str:
    return auth.configured_role(name, adjudicators=adjudicators)


# --- the rules -----------------------------------------------------------------------------------------

def _issued(who) -> Principal | None:
    return who if auth.is_issued(who) else None


def can_edit(who, owner: str) -> bool:
    """Only the author of an annotation (signed in) may revise or retract it."""
    p = _issued(who)
    return p is not None and p.name == owner


def require_edit(name: str, owner: str, annotation_id: str) -> None:
    """``name`` (an authenticated principal's name) may change ``owner``'s annotation only if it is theirs."""
    if name != owner:
        raise Forbidden(f"annotation {annotation_id} belongs to reviewer '{owner}'; nobody else may change "
                        "it (add your own annotation instead)", record=annotation_id, field="reviewer")


def can_adjudicate(who) -> bool:
    p = _issued(who)
    return p is not None and p.is_adjudicator


def require_adjudicator(who, what: str = "settle disagreements") -> Principal:
    return auth.require(who, ADJUDICATOR, what)


def can_edit_taxonomy(who) -> bool:
    p = _issued(who)
    return p is not None and p.is_admin


__all__ = ["ADJUDICATOR", "ADMIN", "REVIEWER", "ROLES", "SYNTHETIC_REVIEWER", "Forbidden", "Principal", "Reviewer",
           "adjudicators_from_config", "can_adjudicate", "can_edit", "can_edit_taxonomy", "clean_name",
           "local_reviewer", "require_adjudicator", "require_edit", "reviewer_from_user", "role_for"]
