"""The list a Review session steps through, carried in the URL so that context follows the user.

A list is what the user opened Review from: an Errors filter (with the selected models and the page of
results) or a model-vs-model slice (the units where only A, or only B, is right). Its query parameters ride
on the Review URL (``list=errors&outcome=wrong&modalities=MRI&m=llava&p=2&pair=...``); Review computes the
same units the list page showed, says where the open unit sits ("3 / 17 of: wrong · MRI · llava") and links
back to the same page of the same list. No Streamlit here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..store import views as sqlv
from .errors import OUTCOME_LABELS, ErrorFilter, annotation_index

LIST = "list"
ERRORS, COMPARE = "errors", "compare"      # list kinds, and the names of their pages (medviz.ui.navigation)
_ERROR_KEYS = ("outcome", "modalities", "categories", "departments", "tags", "reviewers", "tagged", "q",
               "biomedclip_sim_min", "biomedclip_sim_max", "dino_sim_min", "dino_sim_max")
_COMPARE_KEYS = ("ma", "mb", "dir", "by", "v")
_LIST_KEYS = ("m", "modalities", "categories", "departments", "tags", "reviewers")   # repeatable parameters


def _all(q, k) -> list[str]:
    if hasattr(q, "get_all"):
        return list(q.get_all(k))
    v = q.get(k)
    return [] if v is None else (list(v) if isinstance(v, (list, tuple)) else [v])


@dataclass
class ReviewList:
    kind: str                                         # ERRORS | COMPARE
    params: dict = field(default_factory=dict)        # the list's own query parameters
    models: list[str] = field(default_factory=list)   # the models selected when the list was opened ([] = all)
    page: int = 0                                     # the list page's page of results (0-based)

    # --- URL --------------------------------------------------------------------------------------------
    @classmethod
    def errors(cls, f: ErrorFilter, models=(), page: int = 0) -> "ReviewList":
        return cls(ERRORS, f.to_query(), list(models), int(page))

    @classmethod
    def compare(cls, model_a: str, model_b: str, direction: str, by: str | None = None,
                value: str | None = None) -> "ReviewList":
        p = {"ma": model_a, "mb": model_b, "dir": direction}
        if by:
            p["by"] = by
        if value is not None:
            p["v"] = value
        return cls(COMPARE, p, [])

    def to_query(self) -> dict:
        """Query parameters for the Review URL (besides ``b`` and ``pair``)."""
        q = {LIST: self.kind, **self.params}
        if self.models:
            q["m"] = list(self.models)
        if self.page:
            q["p"] = str(self.page)
        return q

    def items(self) -> tuple:
        """``to_query`` as a sorted tuple of (key, value) pairs, lists flattened (hashable, for caches)."""
        out = []
        for k, v in self.to_query().items():
            out += [(k, str(x)) for x in v] if isinstance(v, list) else [(k, str(v))]
        return tuple(sorted(out))

    @classmethod
    def from_items(cls, items) -> "ReviewList | None":
        q: dict = {}
        for k, v in items:
            q.setdefault(k, []).append(v)
        return cls.from_query({k: v if len(v) > 1 or k in _LIST_KEYS else v[0] for k, v in q.items()})

    @classmethod
    def from_query(cls, q) -> "ReviewList | None":
        kind = q.get(LIST)
        try:
            page = max(0, int(q.get("p") or 0))
        except (TypeError, ValueError):
            page = 0
        if kind == ERRORS:
            f = ErrorFilter.from_query(q)
            return cls(ERRORS, f.to_query(), _all(q, "m"), page)
        if kind == COMPARE:
            p = {k: q.get(k) for k in _COMPARE_KEYS if q.get(k) is not None}
            if not p.get("ma") or not p.get("mb"):
                return None
            return cls(COMPARE, p, [])
        return None

    # --- content ------------------------------------------------------------------------------------------
    def error_filter(self) -> ErrorFilter:
        return ErrorFilter.from_query(self.params)

    def unit_ids(self, store, benchmark_id: str) -> list[str]:
        """The units of the list in the order the list page shows them."""
        if self.kind == ERRORS:
            f = self.error_filter()
            idx = annotation_index(store, benchmark_id) if (f.tags or f.reviewers or f.tagged) else None
            return sqlv.error_unit_ids(store.cursor(), benchmark_id, self.models or None, f.sql_filter(idx))
        from .compare import discordant_units
        p = self.params
        return discordant_units(store, benchmark_id, p["ma"], p["mb"], p.get("dir", "a_only"), p.get("by"),
                                p.get("v"))

    def label(self) -> str:
        """What the list is, in a few words: ``wrong · MRI · llava``."""
        if self.kind == COMPARE:
            p = self.params
            a, b = (p["ma"], p["mb"]) if p.get("dir", "a_only") == "a_only" else (p["mb"], p["ma"])
            parts = [f"{a} right, {b} wrong"]
            if p.get("by") and p.get("v") is not None:
                parts.append(f"{p['by']} {p['v']}")
            return " · ".join(parts)
        f = self.error_filter()
        parts = [OUTCOME_LABELS.get(f.outcome or "all", str(f.outcome))]
        for vals in (f.modalities, f.categories, f.departments, f.tags, f.reviewers):
            if vals:
                parts.append(", ".join(vals))
        if f.tagged:
            parts.append(f.tagged)
        if f.search:
            parts.append(f"“{f.search}”")
        for col, label in (("biomedclip_sim", "BiomedCLIP_sim"), ("dino_sim", "DINO_sim")):
            lo, hi = getattr(f, col + "_min"), getattr(f, col + "_max")
            if lo is not None or hi is not None:
                parts.append(f"{label} {'' if lo is None else f'{lo:g}'}–{'' if hi is None else f'{hi:g}'}")
        if self.models:
            parts.append(", ".join(self.models))
        return " · ".join(parts)

    def back(self) -> tuple[str, dict]:
        """(page name, query) of the list page, on the same page of results."""
        if self.kind == ERRORS:
            q = dict(self.params)
            if self.models:
                q["m"] = list(self.models)
            if self.page:
                q["p"] = str(self.page)
            return ERRORS, q
        return COMPARE, {k: v for k, v in self.params.items() if k in ("ma", "mb", "by")}


def position(units: list[str], unit: str | None) -> tuple[int | None, int]:
    """(1-based position of ``unit`` in ``units`` or None, number of units)."""
    try:
        return units.index(unit) + 1, len(units)
    except ValueError:
        return None, len(units)
