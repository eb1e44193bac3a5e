"""Who may write which annotation, checked inside the writer's transaction (so every earlier save is seen).

``authored``: an annotation's author against the signed-in principal saving it. ``check_import``: an import
continues no one else's annotation, leaves no revision gap and forges no adjudication. Role checks
(adjudicate, publish, tokens) are ``medviz.auth.require``; edit rights are ``identity.require_edit``.
"""
from __future__ import annotations

from dataclasses import replace

from .. import auth
from ..errors import MedvizError
from . import identity
from .model import Annotation


def authored(a: Annotation, p: auth.Principal) -> Annotation:
    """``a`` with its author checked against the principal saving it."""
    if a.reviewer is None:
        return replace(a, reviewer=p.name)
    if isinstance(a.reviewer, str) and a.reviewer.strip() and a.reviewer.strip() != p.name:
        if a.annotation_id is not None:
            identity.require_edit(p.name, a.reviewer.strip(), a.annotation_id)
        if not p.is_admin:
            raise auth.Forbidden(f"you are signed in as '{p.name}'; only admins add annotations under another "
                                 f"name ('{a.reviewer.strip()}')", field="reviewer")
    return a


def check_import(state, anns: list[Annotation]) -> list[Annotation]:
    """Inside the import's transaction: no overwrite, no revision gap, nobody else's annotation continued,
    adjudications settle real annotations of their own target. Returns the rows in revision order."""
    by_id: dict[str, list[Annotation]] = {}
    for a in anns:
        by_id.setdefault(a.annotation_id, []).append(a)
    targets: dict[str, tuple] = {}
    for aid, revs in by_id.items():
        revs.sort(key=lambda a: a.revision)
        nums = [a.revision for a in revs]
        if nums != list(range(nums[0], nums[0] + len(nums))):
            raise MedvizError(f"revision gap: the file has revisions {nums} of this annotation", record=aid,
                              field="revision")
        first = revs[0]
        key = (first.benchmark_id, first.target_type, first.target_id)
        for a in revs[1:]:
            if (a.benchmark_id, a.target_type, a.target_id, a.kind, a.reviewer) != key + (first.kind, first.reviewer):
                raise MedvizError("revisions of one annotation disagree on its target, kind or reviewer",
                                  record=aid, field="reviewer")
        prev = state.latest(aid)
        if prev is not None:
            if first.revision <= prev["revision"]:
                raise MedvizError("this annotation is already in the database (import restores annotations "
                                  "into a database that does not have them)", record=aid, field="annotation_id")
            if first.revision != prev["revision"] + 1:
                raise MedvizError(f"revision gap: the database has revision {prev['revision']} of this annotation "
                                  f"and the file starts at revision {first.revision}; import the revisions in "
                                  "between first", record=aid, field="revision")
            identity.require_edit(first.reviewer, prev["reviewer"], aid)
            for f in ("benchmark_id", "target_type", "target_id", "kind"):
                if getattr(first, f) != prev[f]:
                    raise MedvizError(f"'{f}' of an annotation cannot change", record=aid, field=f)
        targets[aid] = key
    for a in anns:
        if a.kind != "adjudication":
            continue
        for sid in a.settles:
            t = targets.get(sid)
            if t is None and state.latest(sid) is not None:
                s = state.latest(sid)
                t = (s["benchmark_id"], s["target_type"], s["target_id"])
            if t != (a.benchmark_id, a.target_type, a.target_id):
                raise MedvizError(f"forged adjudication: it settles {sid}, which is not an annotation of the same "
                                  "target in the database or the file", record=a.annotation_id, field="settles")
    return [a for aid in sorted(by_id) for a in by_id[aid]]
