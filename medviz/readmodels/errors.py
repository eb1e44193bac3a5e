"""The Errors page: the filter (which round-trips through the URL so a view can be shared), the index of
which units carry which tags by whom, one page of (unit, model) outcomes and the table the page draws."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from .. import limits
from ..store import annotations as asql
from ..store import views as sqlv
from ..thumbnails import thumbnail_uri

PAGE_SIZE = 48
OUTCOME_LABELS = {"error": "any error", "wrong": "wrong", "confused": "confused (same answer twice)",
                  "invalid": "invalid (no letter)", "correct": "correct", "all": "everything"}


@dataclass
class ErrorFilter:
    """The Errors page filter; ``to_query``/``from_query`` keep it in the URL so a view can be shared."""
    outcome: str | None = "error"
    modalities: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    departments: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    reviewers: list[str] = field(default_factory=list)
    tagged: str | None = None                 # None | "tagged" | "untagged"
    image_problems: bool = False              # only units with a missing or unreadable image
    biomedclip_sim_min: float | None = None
    biomedclip_sim_max: float | None = None
    dino_sim_min: float | None = None
    dino_sim_max: float | None = None
    search: str = ""

    _LISTS = ("modalities", "categories", "departments", "tags", "reviewers")
    _FLOATS = ("biomedclip_sim_min", "biomedclip_sim_max", "dino_sim_min", "dino_sim_max")

    def to_query(self) -> dict[str, str | list[str]]:
        q: dict = {}
        if self.outcome != "error":
            q["outcome"] = self.outcome or "all"
        for k in self._LISTS:
            if getattr(self, k):
                q[k] = list(getattr(self, k))
        for k in self._FLOATS:
            if getattr(self, k) is not None:
                q[k] = f"{getattr(self, k):g}"
        if self.tagged:
            q["tagged"] = self.tagged
        if self.image_problems:
            q["images"] = "problems"
        if self.search:
            q["q"] = self.search
        return q

    @classmethod
    def from_query(cls, q) -> "ErrorFilter":
        """From ``st.query_params`` (or any mapping with ``get``/``get_all``); bad values are ignored."""
        def all_of(k):
            if hasattr(q, "get_all"):
                return list(q.get_all(k))
            v = q.get(k)
            return [] if v is None else (list(v) if isinstance(v, (list, tuple)) else [v])
        f = cls()
        out = q.get("outcome")
        if out == "all":
            f.outcome = None
        elif out in sqlv.OUTCOMES:
            f.outcome = out
        for k in cls._LISTS:
            setattr(f, k, all_of(k))
        for k in cls._FLOATS:
            v = q.get(k)
            try:
                setattr(f, k, None if v in (None, "") else float(v))
            except (TypeError, ValueError):
                pass
        if q.get("tagged") in ("tagged", "untagged"):
            f.tagged = q.get("tagged")
        f.image_problems = q.get("images") == "problems"
        f.search = limits.bounded_param(q.get("q")) or ""      # a 60 KB ?q= is ignored, not searched
        return f

    def uses_annotations(self) -> bool:
        """Whether the filter needs the annotation index (tag, reviewer or tagged/untagged filters)."""
        return bool(self.tags or self.reviewers or self.tagged)

    def sql_filter(self, annotated: "AnnotationIndex | None" = None) -> dict:
        """The dict ``medviz.store.views`` understands; tag/reviewer filters become unit-id lists."""
        d = {k: getattr(self, k) for k in ("outcome", "modalities", "categories", "departments", "search",
                                            "image_problems", *self._FLOATS)}
        if annotated is not None:
            if self.tags or self.reviewers:
                d["unit_ids"] = sorted(annotated.units_with(self.tags, self.reviewers))
            if self.tagged == "tagged":
                ids = set(annotated.units_with([], []))
                d["unit_ids"] = sorted(ids & set(d["unit_ids"])) if "unit_ids" in d else sorted(ids)
            elif self.tagged == "untagged":
                d["exclude_unit_ids"] = sorted(annotated.units_with([], []))
        return d


@dataclass
class AnnotationIndex:
    """Which units carry which tags by whom (built from the annotation package's current view)."""
    rows: pd.DataFrame      # columns unit_id, tag, reviewer

    def units_with(self, tags: list[str], reviewers: list[str]) -> set[str]:
        df = self.rows
        if df.empty:
            return set()
        if tags:
            df = df[df["tag"].astype(str).map(lambda t: any(t == x or t.startswith(x + "/") for x in tags))]
        if reviewers:
            df = df[df["reviewer"].isin(reviewers)]
        return set(df["unit_id"].astype(str))

    @property
    def tags(self) -> list[str]:
        return sorted(self.rows["tag"].dropna().astype(str).unique()) if not self.rows.empty else []

    @property
    def reviewers(self) -> list[str]:
        return sorted(self.rows["reviewer"].dropna().astype(str).unique()) if not self.rows.empty else []


def error_page(store, benchmark_id: str, models: list[str] | None, f: ErrorFilter, page: int = 0,
               annotated: AnnotationIndex | None = None, page_size: int = PAGE_SIZE) -> tuple[pd.DataFrame, dict]:
    """One page of the Errors table plus the counts of the whole filtered set.

    The page's rows carry tag columns (``tags``, ``reviewers``: current annotations on the unit for the row's
    model or for all models), read for these rows only in the page query. The annotation index is built
    (when not passed) only if the filter uses tags, reviewers or tagged/untagged.
    """
    cur = store.cursor()
    if annotated is None and f.uses_annotations():
        annotated = annotation_index(store, benchmark_id)
    sf = f.sql_filter(annotated)
    counts = sqlv.error_counts(cur, benchmark_id, models, sf)
    pages = max(1, math.ceil(counts["rows"] / page_size))
    page = min(max(0, page), pages - 1)
    rows = sqlv.error_rows(cur, benchmark_id, models, sf, limit=page_size, offset=page * page_size, with_tags=True)
    counts.update(page=page, pages=pages)
    return rows, counts


def annotation_index(store, benchmark_id: str) -> AnnotationIndex:
    """unit_id, tag, reviewer, model for every current annotation × tag (``store.annotations.unit_tag_rows``:
    the same unit mapping as the tagged units that "next untagged" skips)."""
    return AnnotationIndex(asql.unit_tag_rows(store.cursor(), benchmark_id))


def outcome_label(r) -> str:
    if r["all_correct"]:
        return "correct"
    parts = []
    if r["confused"]:
        parts.append("confused")
    if r["any_wrong"]:
        parts.append("wrong")
    if r["any_invalid"]:
        parts.append("invalid")
    return ", ".join(parts) or "no answer key"


def error_table(store, rows: pd.DataFrame) -> pd.DataFrame:
    """The Errors page table: thumbnails (cached data URIs), ids, outcome, letters vs answers, sims."""
    def letters(v):
        return " ".join("–" if x is None or (isinstance(x, float) and math.isnan(x)) else str(x) for x in list(v))
    paths = [list(p) for p in rows["image_paths"]]
    out = pd.DataFrame({
        "image 1": [thumbnail_uri(store, p[0] if p else None) for p in paths],
        "image 2": [thumbnail_uri(store, p[1] if len(p) > 1 else None) for p in paths],
        "pair / item": rows["unit_id"].astype(str),
        "model": [f"{m} (synthetic)" if s else m for m, s in zip(rows["model"], rows["synthetic"].fillna(False))],
        "outcome": [outcome_label(r) for _, r in rows.iterrows()],
        "answered": [letters(v) for v in rows["letters"]],
        "correct": [letters(v) for v in rows["answers"]],
        "question": rows["question"],
        "modality": [", ".join(v) for v in rows["modalities"]],
        "categories": [", ".join(v) for v in rows["categories"]],
    })
    if "tags" in rows.columns:               # tag columns of the page's rows (see error_page)
        out["tags"] = [", ".join(v) if v is not None and len(v) else "" for v in rows["tags"]]
    if rows["biomedclip_sim"].notna().any():
        out["BiomedCLIP_sim"] = rows["biomedclip_sim"]
    if rows["dino_sim"].notna().any():
        out["DINO_sim"] = rows["dino_sim"]
    if rows["n_items"].max() < 2:
        out = out.drop(columns=["image 2"])
    return out
