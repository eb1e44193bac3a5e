"""One batch transaction of the annotation writer: what it has written so far (so later requests in a batch
see earlier ones), the row <-> Annotation conversions it uses, and the checks of one save (``apply_save``)."""
from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timezone

from ..errors import MedvizError
from ..store import annotations as sql
from . import identity
from .model import Annotation


class BatchState:
    """What one batch transaction has written so far, so later requests in it see earlier ones.

    ``known``: committed latest revisions (the writer's cache, topped up with one query per batch).
    """

    def __init__(self, cur, next_rev: int, known: dict[str, dict]):
        self.cur = cur
        self.next_rev = next_rev
        self.known = known
        self.pending: dict[str, dict] = {}

    def prefetch(self, batch: list) -> None:          # writer requests (op, payload)
        ids: set[str] = set()
        for req in batch:
            if req.op == "retract":
                ids.add(req.payload[0])
            elif req.op == "import":
                ids.update(a.annotation_id for a in req.payload[0])
                ids.update(s for a in req.payload[0] for s in a.settles)
            elif req.op in ("save", "save_many"):
                for a in (req.payload if req.op == "save_many" else [req.payload]):
                    if a.annotation_id:
                        ids.add(a.annotation_id)
                    ids.update(a.settles)
        missing = [i for i in ids if i not in self.known]
        found = sql.latest_revisions(self.cur, missing)
        for i in missing:
            self.known[i] = found.get(i)       # None = no such annotation (yet)

    def latest(self, annotation_id: str):
        if annotation_id in self.pending:
            return self.pending[annotation_id]
        return self.known.get(annotation_id)

    def add(self, row: dict) -> dict:
        row = dict(row, rev_id=self.next_rev)
        self.next_rev += 1
        prev = self.latest(row["annotation_id"])
        if prev is None or row["revision"] > prev["revision"]:
            self.pending[row["annotation_id"]] = row
        return row


def row(a: Annotation) -> dict:
    return {"rev_id": None, "annotation_id": a.annotation_id, "revision": a.revision,
            "benchmark_id": a.benchmark_id, "target_type": a.target_type, "target_id": a.target_id,
            "model": a.model, "tags": list(a.tags), "rationale": a.rationale, "confidence": a.confidence,
            "reviewer": a.reviewer, "proposed_answer": a.proposed_answer, "taxonomy_version": a.taxonomy_version,
            "kind": a.kind, "settles": list(a.settles), "retracted": bool(a.retracted),
            "created_at": a.created_at, "updated_at": a.updated_at}


def annotation(row: dict) -> Annotation:
    return Annotation.from_row(row)


def apply_save(state: BatchState, a: Annotation):
    """One save (a new annotation, an edit of one, or an adjudication) checked against what the batch
    and the store hold: edits by their author only, of the current revision, never moving target or kind."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    if a.kind == "adjudication":
        for sid in a.settles:
            s = state.latest(sid)
            if s is None or (s["benchmark_id"], s["target_type"], s["target_id"]) != \
                    (a.benchmark_id, a.target_type, a.target_id):
                raise MedvizError("an adjudication can only settle annotations of the same target",
                                  record=sid, field="settles")
    if a.annotation_id is None:
        a = replace(a, annotation_id=uuid.uuid4().hex, revision=1, created_at=now, updated_at=now,
                    retracted=False)
    else:
        prev = state.latest(a.annotation_id)
        if prev is None:
            raise MedvizError("no such annotation to edit", record=a.annotation_id, field="annotation_id")
        identity.require_edit(a.reviewer, prev["reviewer"], a.annotation_id)
        for f in ("benchmark_id", "target_type", "target_id", "kind"):
            if getattr(a, f) != prev[f]:
                raise MedvizError(f"'{f}' of an annotation cannot change; retract it and add a new one",
                                  record=a.annotation_id, field=f)
        if a.revision is not None and a.revision != prev["revision"]:
            raise MedvizError(f"this annotation changed since you opened it (you edited revision {a.revision}, "
                              f"revision {prev['revision']} is current); reload and edit again",
                              record=a.annotation_id, field="revision")
        a = replace(a, revision=prev["revision"] + 1, created_at=prev["created_at"], updated_at=now,
                    retracted=False)
    r = state.add(row(a))
    return annotation(r), r
