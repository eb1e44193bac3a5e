"""Bulk tagging: the same tags on every unit of a selection (an Errors filter, an Embeddings lasso), saved as
one individual annotation per unit by the signed-in reviewer, through the writer's batch save (one
transaction, all or nothing)."""
from __future__ import annotations

from ..errors import MedvizError
from ..store import views as sqlv
from . import identity
from .model import Annotation
from .writer import get_writer

MAX_UNITS = 5000      # one action tags at most this many units (a size bound on the request)


def tag_units(store, benchmark_id: str, unit_ids, tags: list[str], reviewer: identity.Reviewer, *,
              model: str | None = None, rationale: str = "", confidence: int = 3) -> list[Annotation]:
    """Save ``tags`` on every unit (pair or item id) as individual annotations by ``reviewer``; returns them.

    ``reviewer`` is the authenticated principal (``identity.Reviewer``): the annotations are recorded under
    its name, never under a name passed alongside. Units are checked against the benchmark first; unknown
    ids fail the whole action, naming the first one. ``model=None`` tags the unit for all models.
    """
    if not isinstance(reviewer, identity.Reviewer):
        raise MedvizError("sign in (or enter your reviewer name) before tagging", field="reviewer")
    ids = list(dict.fromkeys(str(u) for u in unit_ids))
    if not ids:
        return []
    if len(ids) > MAX_UNITS:
        raise MedvizError(f"{len(ids)} units selected; bulk tagging takes at most {MAX_UNITS} at once "
                          "(narrow the filter)", field="units")
    if not tags:
        raise MedvizError("choose at least one tag", field="tags")
    kinds = sqlv.unit_target_types(store.cursor(), benchmark_id, ids)
    unknown = [u for u in ids if u not in kinds]
    if unknown:
        raise MedvizError(f"there is no pair or item '{unknown[0]}' in benchmark '{benchmark_id}'",
                          record=unknown[0], field="units")
    anns = [Annotation(benchmark_id, kinds[u], u, list(tags), reviewer.name, model=model, rationale=rationale,
                       confidence=confidence) for u in ids]
    return get_writer(store).save_many(anns, reviewer)        # the writer checks the principal (medviz.auth)
