"""``Annotation``: one reviewer's judgement of why a model failed on a pair or an item.

An annotation targets a pair or an item of one benchmark, for one model (``model``) or for all models
(``model=None``). Every save of it is a new revision; ``retracted`` revisions delete it from the current
view while keeping the history. ``kind='adjudication'`` marks an adjudicator's consensus, which names the
annotations it ``settles``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime

from ..errors import MedvizError

TARGET_TYPES = ("pair", "item")
KINDS = ("annotation", "adjudication")
MAX_RATIONALE = 20_000


@dataclass
class Annotation:
    benchmark_id: str
    target_type: str                       # 'pair' | 'item'
    target_id: str                         # pair_id or item_id
    tags: list[str]                        # full taxonomy paths
    reviewer: str
    model: str | None = None               # None = the judgement holds for all models
    rationale: str = ""
    confidence: int = 3                    # 1 (unsure) .. 5 (certain)
    proposed_answer: str | None = None     # with "Answer key disputed"
    taxonomy_version: str | None = None    # filled by the writer when None
    annotation_id: str | None = None       # None = a new annotation
    revision: int | None = None            # the revision an edit builds on; after save: the saved one
    retracted: bool = False
    kind: str = "annotation"
    settles: list[str] = field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def edit(self, **changes) -> "Annotation":
        """A copy with changes, ready to save as the next revision of this annotation."""
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_row(cls, row) -> "Annotation":
        """From a row of ``current_annotations`` / ``history`` (dict or pandas Series)."""
        g = dict(row)

        def clean(v):
            if v is None or (isinstance(v, float) and math.isnan(v)):
                return None
            try:
                import pandas as pd
                if v is pd.NA or v is pd.NaT:
                    return None
            except ImportError:  # pragma: no cover
                pass
            return v
        ts = {k: clean(g.get(k)) for k in ("created_at", "updated_at")}
        ts = {k: (v.to_pydatetime() if hasattr(v, "to_pydatetime") else v) for k, v in ts.items()}
        return cls(benchmark_id=g["benchmark_id"], target_type=g["target_type"], target_id=g["target_id"],
                   tags=list(g["tags"]), reviewer=g["reviewer"], model=clean(g.get("model")),
                   rationale=clean(g.get("rationale")) or "", confidence=int(g["confidence"]),
                   proposed_answer=clean(g.get("proposed_answer")),
                   taxonomy_version=clean(g.get("taxonomy_version")), annotation_id=g["annotation_id"],
                   revision=int(g["revision"]), retracted=bool(g["retracted"]), kind=g.get("kind") or "annotation",
                   settles=list(clean(g.get("settles")) if clean(g.get("settles")) is not None else []),
                   created_at=ts["created_at"], updated_at=ts["updated_at"])


def check_fields(a: Annotation) -> None:
    """Shape checks that need no database or taxonomy; MedvizError naming the field."""
    rec = a.annotation_id or f"{a.target_type} {a.target_id}"
    for name in ("benchmark_id", "target_id", "reviewer"):
        v = getattr(a, name)
        if not isinstance(v, str) or not v.strip():
            raise MedvizError(f"'{name}' must be a non-empty string", record=rec, field=name)
    if a.target_type not in TARGET_TYPES:
        raise MedvizError(f"target_type must be 'pair' or 'item', not {a.target_type!r}", record=rec,
                          field="target_type")
    if a.model is not None and (not isinstance(a.model, str) or not a.model.strip() or a.model == "(all models)"):
        raise MedvizError("model must be a model name or None (all models)", record=rec, field="model")
    if isinstance(a.confidence, bool) or not isinstance(a.confidence, int) or not 1 <= a.confidence <= 5:
        raise MedvizError(f"confidence must be a whole number from 1 to 5, not {a.confidence!r}", record=rec,
                          field="confidence")
    if not isinstance(a.rationale, str):
        raise MedvizError("rationale must be text", record=rec, field="rationale")
    if len(a.rationale) > MAX_RATIONALE:
        raise MedvizError(f"rationale is longer than {MAX_RATIONALE} characters", record=rec, field="rationale")
    if a.kind not in KINDS:
        raise MedvizError(f"kind must be one of {KINDS}", record=rec, field="kind")
    if a.proposed_answer is not None and not isinstance(a.proposed_answer, str):
        raise MedvizError("proposed_answer must be text", record=rec, field="proposed_answer")
