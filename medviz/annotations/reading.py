"""Double reading: a reading plan per benchmark, each reader's queue, blind mode, and adjudication.

- ``ReadingPlan``: how many independent readers every pair (or item) needs (``readers``), and whether
  readers work blind. Blind is the default when the plan asks for 2 or more readers.
- ``my_queue``: the pairs I have not read yet that still need a reader, in a stable (id) order.
- Blind mode: ``visible_annotations`` hides other reviewers' annotations on a pair until I have saved
  mine there; adjudicators see every reading of a pair that is in the adjudication queue. The rule lives
  here, not in the page, so every client of the domain gets it.
- ``adjudication_queue``: pairs whose readers disagree (different tag sets or proposed answers) and that no
  adjudication has settled since (``agreement.disagreement_queue``); ``readings`` shows an adjudicator every
  reading side by side; ``settle`` records the consensus (an annotation of kind 'adjudication' that names
  the annotations it settles), which takes the pair out of the queue.

A reviewer is ``identity.Reviewer`` (role-checked); plain names are accepted where only reading is done.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import pandas as pd

from ..errors import MedvizError
from ..store import reading as sql
from ..writer import execute_write_fn
from . import identity
from .agreement import disagreement_queue
from .model import Annotation
from .queries import current_annotations

MAX_READERS = 10


@dataclass(frozen=True)
class ReadingPlan:
    benchmark_id: str
    readers: int = 1
    blind: bool | None = None            # None = the default: blind when readers >= 2

    @property
    def is_blind(self) -> bool:
        return self.readers >= 2 if self.blind is None else bool(self.blind)


def _name(who) -> str:
    return who.name if isinstance(who, identity.Reviewer) else str(who)


def get_plan(store, benchmark_id: str) -> ReadingPlan:
    row = sql.plan(store.cursor(), benchmark_id)
    if row is None:
        return ReadingPlan(benchmark_id)
    return ReadingPlan(benchmark_id, int(row["readers"]), None if row["blind"] is None else bool(row["blind"]))


def set_plan(store, benchmark_id: str, readers: int, blind: bool | None = None, *, by) -> ReadingPlan:
    """Adjudicators set how many readers each pair needs (1..10) and whether reading is blind."""
    identity.require_adjudicator(by, "change the reading plan")
    if isinstance(readers, bool) or not isinstance(readers, int) or not 1 <= readers <= MAX_READERS:
        raise MedvizError(f"readers per pair must be a whole number from 1 to {MAX_READERS}, not {readers!r}",
                          record=benchmark_id, field="readers")
    if blind is not None and not isinstance(blind, bool):
        raise MedvizError("blind must be true, false or unset", record=benchmark_id, field="blind")
    at = datetime.now(timezone.utc).replace(tzinfo=None)
    execute_write_fn(store, lambda tx: sql.upsert_plan(tx, benchmark_id, readers, blind, _name(by), at))
    return ReadingPlan(benchmark_id, readers, blind)


def readers_by_target(store, benchmark_id: str) -> dict[str, set[str]]:
    """target id -> the reviewers with a current annotation on it (adjudications excluded)."""
    df = sql.readers_per_target(store.cursor(), benchmark_id)
    out: dict[str, set[str]] = {}
    for t, r in zip(df["target_id"], df["reviewer"]):
        out.setdefault(t, set()).add(r)
    return out


def has_read(store, benchmark_id: str, who, target_id: str) -> bool:
    return _name(who) in readers_by_target(store, benchmark_id).get(target_id, set())


def my_queue(store, benchmark_id: str, who, unit_ids: list[str], plan: ReadingPlan | None = None) -> list[str]:
    """The units (of ``unit_ids``) I have not read and that have fewer readers than the plan asks,
    in id order (stable: the same list each time, minus what gets read)."""
    plan = plan or get_plan(store, benchmark_id)
    readers = readers_by_target(store, benchmark_id)
    me = _name(who)
    return sorted(u for u in unit_ids
                  if me not in readers.get(u, ()) and len(readers.get(u, ())) < plan.readers)


def adjudication_queue(store, benchmark_id: str) -> pd.DataFrame:
    """Pairs whose readers disagree and that no later adjudication has settled (one row per pair and model
    scope; see ``agreement.disagreement_queue`` for the columns)."""
    return disagreement_queue(store, benchmark_id)


def adjudication_targets(store, benchmark_id: str) -> list[str]:
    q = adjudication_queue(store, benchmark_id)
    return sorted(set(q["target_id"])) if len(q) else []


def can_see_others(store, benchmark_id: str, who, target_id: str, plan: ReadingPlan | None = None) -> bool:
    """Blind mode: another reviewer's reading of a pair is visible to me once I have saved mine there (or the
    plan is not blind); adjudicators also see every reading of a pair awaiting adjudication."""
    plan = plan or get_plan(store, benchmark_id)
    if not plan.is_blind:
        return True
    if has_read(store, benchmark_id, who, target_id):
        return True
    return identity.can_adjudicate(who) and target_id in adjudication_targets(store, benchmark_id)


def visible_annotations(store, benchmark_id: str, who, target_id: str,
                        plan: ReadingPlan | None = None) -> tuple[pd.DataFrame, int]:
    """The current annotations on a target that ``who`` may see, and how many are hidden from them."""
    df = current_annotations(store, benchmark_id, target_id=target_id)
    if df.empty or can_see_others(store, benchmark_id, who, target_id, plan):
        return df, 0
    mine = df[df["reviewer"] == _name(who)]
    return mine.reset_index(drop=True), int(len(df) - len(mine))


def readings(store, benchmark_id: str, target_id: str, adjudicator) -> pd.DataFrame:
    """Every current reading of a target, side by side (one row per reviewer and model scope), for an
    adjudicator: reviewer, model, tags, rationale, confidence, proposed_answer, annotation_id, updated_at."""
    identity.require_adjudicator(adjudicator, "see every reading of a pair")
    df = current_annotations(store, benchmark_id, target_id=target_id, kind="annotation")
    cols = ["reviewer", "model", "tags", "rationale", "confidence", "proposed_answer", "annotation_id", "updated_at"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    return df.sort_values(["reviewer", "updated_at"], kind="stable")[cols].reset_index(drop=True)


def settle(store, benchmark_id: str, target_type: str, target_id: str, tags: list[str], adjudicator, *,
           model: str | None = None, rationale: str = "", proposed_answer: str | None = None) -> Annotation:
    """Record the adjudicated consensus for a pair (for one model scope, default all models); it settles the
    readings on that pair and scope, which leaves the adjudication queue."""
    from .writer import get_writer
    identity.require_adjudicator(adjudicator)
    df = current_annotations(store, benchmark_id, target_id=target_id, kind="annotation")
    if not df.empty:
        same = df["model"].map(lambda m: (m if isinstance(m, str) else None) == model)
        df = df[same]
    if df.empty:
        raise MedvizError(f"there are no readings of {target_type} '{target_id}' to settle", record=target_id,
                          field="target_id")
    a = Annotation(benchmark_id=benchmark_id, target_type=target_type, target_id=target_id, tags=list(tags),
                   reviewer=adjudicator.name, model=model, rationale=rationale, proposed_answer=proposed_answer)
    return get_writer(store).adjudicate(a, adjudicator, settles=list(df["annotation_id"]))
