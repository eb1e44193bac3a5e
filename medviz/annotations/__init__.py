"""Clinicians tag why models fail: taxonomy, append-only revisions, one writer, agreement, statistics.

Public API (what the app and CLI call):
- ``load_taxonomy(path=None)`` / ``active_taxonomy(store)`` -> ``Taxonomy`` (``.version``, ``.paths()``,
  ``.label(path)``, ``.path_for_role(role)``)
- ``Annotation`` (dataclass); ``get_writer(store)`` -> ``AnnotationWriter`` with ``.save``, ``.retract``,
  ``.adjudicate`` (each returns after commit)
- ``current_annotations(store, ...)``, ``history(store, annotation_id)``
- ``agreement(store, benchmark_id)``, ``disagreement_queue(store, benchmark_id)``
- ``failure_mode_stats(store, benchmark_id, by=...)``, ``blind_vs_tags(store, benchmark_id)``,
  ``disputed_items(store, benchmark_id)``
- identity: ``Reviewer`` (= ``medviz.auth.Principal``), ``local_reviewer``, ``reviewer_from_user``, ``can_edit``,
  ``can_adjudicate``. Every write verb takes ``by``, a principal issued by ``medviz.auth``; see medviz/auth.py.
"""
from .identity import (ADJUDICATOR, REVIEWER, SYNTHETIC_REVIEWER, Reviewer, can_adjudicate, can_edit,
                       can_edit_taxonomy, local_reviewer, reviewer_from_user)
from .model import Annotation
from .queries import ALL_MODELS, current_annotations, history
from .taxonomy import Taxonomy, active_taxonomy, load_taxonomy, taxonomy_from_text
from .writer import AnnotationWriter, close_writer, get_writer
from .agreement import agreement, disagreement_queue  # noqa: E402  (after writer: no cycles)
from .stats import (blind_pairs, blind_vs_tags, consensus, disputed_items, encoder_similarities,  # noqa: E402
                    failure_mode_stats, rescore_without_disputed)


def publish_taxonomy(store, taxonomy: Taxonomy, by: Reviewer) -> Taxonomy:
    """Admins: make an edited taxonomy (with a new version string) the active one of this store."""
    return get_writer(store).publish_taxonomy(taxonomy, by)


__all__ = [
    "ADJUDICATOR", "REVIEWER", "SYNTHETIC_REVIEWER", "Reviewer", "can_adjudicate", "can_edit", "can_edit_taxonomy",
    "local_reviewer", "reviewer_from_user", "Annotation", "ALL_MODELS", "current_annotations", "history",
    "Taxonomy", "active_taxonomy", "load_taxonomy", "taxonomy_from_text", "publish_taxonomy",
    "AnnotationWriter", "close_writer", "get_writer", "agreement", "disagreement_queue", "failure_mode_stats",
    "blind_vs_tags", "blind_pairs", "consensus", "disputed_items", "encoder_similarities",
    "rescore_without_disputed",
]
