"""One batch transaction of the annotation writer: what it has written so far, and the row <-> Annotation
conversions it uses (so later requests in a batch see earlier ones)."""
from __future__ import annotations

from ..store import annotations as sql
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
