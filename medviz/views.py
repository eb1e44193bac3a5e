"""What the app pages show, as plain Python (no Streamlit): filters that round-trip through the URL, the
leaderboard frame, a review unit with every model's answers, navigation queues and cached thumbnails.

Every function takes a ``Store`` and returns data classes or DataFrames, so it is tested without a browser.
"""
from __future__ import annotations

import base64
import hashlib
import io
import math
import os
from dataclasses import asdict, dataclass, field

import pandas as pd

from . import evaluate
from .errors import MedvizError
from .images import WINDOW_PRESETS, load_image, sniff_format
from .store import core
from .store import views as sqlv

PAGE_SIZE = 48


# --- filters ----------------------------------------------------------------------------------------------

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
        f.search = q.get("q") or ""
        return f

    def uses_annotations(self) -> bool:
        """Whether the filter needs the annotation index (tag, reviewer or tagged/untagged filters)."""
        return bool(self.tags or self.reviewers or self.tagged)

    def sql_filter(self, annotated: "AnnotationIndex | None" = None) -> dict:
        """The dict ``medviz.store.views`` understands; tag/reviewer filters become unit-id lists."""
        d = {k: getattr(self, k) for k in ("outcome", "modalities", "categories", "departments", "search",
                                            *self._FLOATS)}
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
    model or for all models), read for these rows only. The annotation index is built (when not passed)
    only if the filter uses tags, reviewers or tagged/untagged.
    """
    cur = store.cursor()
    if annotated is None and f.uses_annotations():
        annotated = annotation_index(store, benchmark_id)
    sf = f.sql_filter(annotated)
    counts = sqlv.error_counts(cur, benchmark_id, models, sf)
    pages = max(1, math.ceil(counts["rows"] / page_size))
    page = min(max(0, page), pages - 1)
    rows = sqlv.error_rows(cur, benchmark_id, models, sf, limit=page_size, offset=page * page_size)
    if len(rows):
        tags = sqlv.page_tags(cur, benchmark_id, list(rows["unit_id"]), list(rows["model"]))
        rows = rows.merge(tags, on=["unit_id", "model"], how="left", sort=False)
    else:
        rows = rows.assign(tags=pd.Series(dtype=object), reviewers=pd.Series(dtype=object))
    counts.update(page=page, pages=pages)
    return rows, counts


# --- leaderboard -------------------------------------------------------------------------------------------

def leaderboard(store, benchmark_id: str, models: list[str] | None = None) -> pd.DataFrame:
    """One row per model: official metrics with Wilson intervals and the random-guess baseline."""
    bench = core.benchmark(store.cursor(), benchmark_id)
    if bench is None:
        raise MedvizError(f"benchmark '{benchmark_id}' is not in the store")
    scores = evaluate.score_store(store, benchmark_id, models or None)
    mdf = core.models(store.cursor(), benchmark_id).set_index("model")
    rows = []
    for model, m in scores.items():
        row = {"model": model, "synthetic": bool(mdf.loc[model, "synthetic"]) if model in mdf.index else False}
        pm = m if "set_accuracy" in m else m.get("pairs")
        if pm:
            for k in ("set_accuracy", "individual_accuracy", "confusion", "invalid", "image_blind"):
                ci = pm["ci"][k]
                row[k], row[k + "_low"], row[k + "_high"], row[k + "_n"] = pm[k], ci["ci_low"], ci["ci_high"], ci["n"]
            row["pairs"] = pm["pairs"]
            row["baseline"] = 0.25
            row["headline"] = "set_accuracy"
        if "overall" in m:
            ci = m["ci"]["overall"]
            row.update(accuracy=m["overall"], accuracy_low=ci["ci_low"], accuracy_high=ci["ci_high"],
                       items=m["rows"])
            if not pm:
                row["baseline"] = m.get("baseline", {}).get("overall", math.nan)
                row["headline"] = "accuracy"
        rows.append(row)
    return pd.DataFrame(rows)


# --- review units ------------------------------------------------------------------------------------------

@dataclass
class Answer:
    model: str
    raw: str | None
    parsed: str | None
    correct: bool | None
    synthetic: bool


@dataclass
class Slot:
    item_id: str
    slot: int
    question: str
    options: dict[str, str]
    answer: str | None
    image_path: str | None
    image_ref: str | None
    image_ok: bool
    is_dicom: bool
    modality: str | None
    categories: list[str]
    department: str | None
    answers: list[Answer]


@dataclass
class UnitView:
    benchmark_id: str
    unit_id: str
    is_pair: bool
    slots: list[Slot]
    biomedclip_sim: float | None = None
    dino_sim: float | None = None

    @property
    def item_ids(self) -> list[str]:
        return [s.item_id for s in self.slots]

    def confused_models(self) -> list[str]:
        """Models that gave the same letter for both images of the pair (image-blind on this pair)."""
        if len(self.slots) != 2:
            return []
        a = {x.model: x.parsed for x in self.slots[0].answers}
        return sorted(m for m, p in ((x.model, x.parsed) for x in self.slots[1].answers)
                      if p is not None and a.get(m) == p)

    def any_error(self) -> bool:
        return any(a.correct is not True for s in self.slots for a in s.answers)


def _is_dicom(path: str | None) -> bool:
    if not path or not os.path.exists(path):
        return False
    with open(path, "rb") as f:
        return sniff_format(f.read(132)) == "dicom"


def unit_view(store, benchmark_id: str, unit_id: str, models: list[str] | None = None) -> UnitView:
    """Everything the Review page shows about a pair (or a single item); MedvizError when unknown."""
    import json
    cur = store.cursor()
    items = sqlv.unit_items(cur, benchmark_id, unit_id)
    if items.empty:
        raise MedvizError(f"no pair or item '{unit_id}' in benchmark '{benchmark_id}'", record=unit_id)
    preds = sqlv.unit_predictions(cur, benchmark_id, list(items["item_id"]), models)
    slots = []
    for _, it in items.iterrows():
        ps = preds[preds["item_id"] == it["item_id"]]
        answers = [Answer(model=p.model, raw=None if pd.isna(p.raw) else p.raw,
                          parsed=None if pd.isna(p.parsed) else p.parsed,
                          correct=None if pd.isna(p.correct) else bool(p.correct), synthetic=bool(p.synthetic))
                   for p in ps.itertuples()]
        path = None if pd.isna(it["image_path"]) else it["image_path"]
        slots.append(Slot(
            item_id=it["item_id"], slot=1 if pd.isna(it["slot"]) else int(it["slot"]), question=it["question"],
            options=json.loads(it["options"]) if it["options"] else {},
            answer=None if pd.isna(it["answer"]) else it["answer"], image_path=path,
            image_ref=None if pd.isna(it["image_ref"]) else it["image_ref"],
            image_ok=bool(path) and os.path.exists(path), is_dicom=_is_dicom(path),
            modality=None if pd.isna(it["modality"]) else it["modality"],
            categories=list(it["categories"]) if it["categories"] is not None else [],
            department=None if pd.isna(it["department"]) else it["department"], answers=answers))
    pair = core.pair(cur, benchmark_id, unit_id)
    uv = UnitView(benchmark_id=benchmark_id, unit_id=unit_id, is_pair=pair is not None, slots=slots)
    if pair is not None:
        uv.biomedclip_sim = None if pd.isna(pair["biomedclip_sim"]) else float(pair["biomedclip_sim"])
        uv.dino_sim = None if pd.isna(pair["dino_sim"]) else float(pair["dino_sim"])
    return uv


def neighbour(ids: list[str], current: str | None, step: int) -> str | None:
    """The id ``step`` places from ``current`` in ``ids`` (wrapping); the first id when current is absent."""
    if not ids:
        return None
    if current not in ids:
        return ids[0]
    return ids[(ids.index(current) + step) % len(ids)]


def next_untagged_error(store, benchmark_id: str, models: list[str] | None, current: str | None,
                        tagged_units: set[str]) -> str | None:
    """The next unit after ``current`` (wrapping) where a selected model is not fully right and nobody has
    tagged it yet; None when the queue is empty."""
    ids = [u for u in sqlv.error_unit_ids(store.cursor(), benchmark_id, models, {"outcome": "error"})
           if u not in tagged_units]
    if not ids:
        return None
    after = [u for u in ids if current is None or u > current]
    return after[0] if after else ids[0]


# --- images ------------------------------------------------------------------------------------------------

def _cache_name(path: str, size: int, window) -> str:
    st = os.stat(path)
    key = f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}|{size}|{window}"
    return hashlib.sha1(key.encode()).hexdigest()


def cached_image_bytes(store, path: str, *, size: int = 96, window: str | None = "auto",
                       fmt: str = "JPEG") -> bytes:
    """A resized copy of an image, built once into ``<db>_files/thumbs`` and read from there afterwards."""
    if window not in (None, "auto") and window not in WINDOW_PRESETS:
        raise MedvizError(f"unknown window preset '{window}'")
    if not path or not os.path.exists(path):
        raise MedvizError("image file is missing", file=path or "(no path)")
    out_dir = os.path.join(store.files_dir, "thumbs")
    os.makedirs(out_dir, exist_ok=True)
    ext = "jpg" if fmt == "JPEG" else "png"
    target = os.path.join(out_dir, f"{_cache_name(path, size, window)}.{ext}")
    if os.path.exists(target):
        with open(target, "rb") as f:
            return f.read()
    im = load_image(path, window=window or "auto")
    im.thumbnail((size, size))
    buf = io.BytesIO()
    im.save(buf, format=fmt, quality=85) if fmt == "JPEG" else im.save(buf, format=fmt)
    data = buf.getvalue()
    tmp = f"{target}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, target)
    return data


def data_uri(data: bytes, mime: str = "image/jpeg") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def thumbnail_uri(store, path: str | None, size: int = 96) -> str | None:
    """Data URI of a cached thumbnail, or None when the image is missing/unreadable (the table shows blank)."""
    try:
        return data_uri(cached_image_bytes(store, path, size=size))
    except MedvizError:
        return None


def as_dict(obj) -> dict:
    return asdict(obj)


# --- the annotation and encoder packages (optional: the app says "not available" when absent) -------------

class NotAvailable(MedvizError):
    """A feature whose package is not installed or not computed yet; the message says what to do."""


def annotations_api():
    """The ``medviz.annotations`` module, or NotAvailable."""
    try:
        from . import annotations as ann
        for name in ("current_annotations", "get_writer", "Annotation"):
            getattr(ann, name)
        return ann
    except (ImportError, AttributeError) as e:
        raise NotAvailable(f"annotation support is not available in this installation ({e})") from None


def encoders_api():
    try:
        from . import encoders as enc
        for name in ("computed_encoders", "explain_pair"):
            getattr(enc, name)
        return enc
    except (ImportError, AttributeError) as e:
        raise NotAvailable(f"encoder support is not available in this installation ({e})") from None


def annotation_index(store, benchmark_id: str) -> AnnotationIndex:
    """unit_id, tag, reviewer, model for every current annotation × tag (empty without the package)."""
    empty = pd.DataFrame(columns=["unit_id", "tag", "reviewer", "model"])
    try:
        ann = annotations_api()
    except NotAvailable:
        return AnnotationIndex(empty)
    cur = ann.current_annotations(store, benchmark_id)
    if cur is None or len(cur) == 0:
        return AnnotationIndex(empty)
    df = cur[["target_type", "target_id", "tags", "reviewer", "model"]].copy()
    items = df["target_type"] == "item"
    if items.any():
        m = sqlv.item_rows(store.cursor(), benchmark_id, list(df.loc[items, "target_id"]))
        unit_of = dict(zip(m["item_id"], m["unit_id"]))
        df.loc[items, "target_id"] = df.loc[items, "target_id"].map(lambda i: unit_of.get(i, i))
    df = df.rename(columns={"target_id": "unit_id", "tags": "tag"}).explode("tag")
    return AnnotationIndex(df[["unit_id", "tag", "reviewer", "model"]].reset_index(drop=True))


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
        "image 2": [thumbnail_uri(store, p[1]) if len(p) > 1 else None for p in paths],
        "pair / item": rows["unit_id"].astype(str),
        "model": [f"{m} (synthetic)" if s else m for m, s in zip(rows["model"], rows["synthetic"].fillna(False))],
        "outcome": [outcome_label(r) for _, r in rows.iterrows()],
        "answered": [letters(v) for v in rows["letters"]],
        "correct": [letters(v) for v in rows["answers"]],
        "question": rows["question"],
        "modality": [", ".join(v) for v in rows["modalities"]],
        "categories": [", ".join(v) for v in rows["categories"]],
    })
    if rows["biomedclip_sim"].notna().any():
        out["BiomedCLIP_sim"] = rows["biomedclip_sim"]
    if rows["dino_sim"].notna().any():
        out["DINO_sim"] = rows["dino_sim"]
    if rows["n_items"].max() < 2:
        out = out.drop(columns=["image 2"])
    return out


# --- statistics and embeddings read models ------------------------------------------------------------------

def annotations_module(name: str):
    """A submodule of the annotation package (``stats``, ``agreement``), or NotAvailable."""
    annotations_api()
    import importlib
    try:
        return importlib.import_module(f"medviz.annotations.{name}")
    except ImportError as e:
        raise NotAvailable(f"medviz.annotations.{name} is not available ({e})") from None


def tag_trends(store, benchmark_id: str, freq: str = "D") -> pd.DataFrame:
    """Annotations saved per period (``freq``: D/W/M) and top-level tag: columns period, tag, count."""
    ann = annotations_api()
    cur = ann.current_annotations(store, benchmark_id)
    if cur is None or len(cur) == 0:
        return pd.DataFrame(columns=["period", "tag", "count"])
    df = cur[["created_at", "tags"]].explode("tags").dropna(subset=["tags"])
    df["tag"] = df["tags"].astype(str).str.split("/").str[0]
    df["period"] = pd.to_datetime(df["created_at"]).dt.to_period(freq).dt.start_time
    return df.groupby(["period", "tag"], sort=True).size().rename("count").reset_index()


def embedding_frame(store, benchmark_id: str, encoder_id: str, models: list[str] | None,
                    method: str = "pca", map_frame: pd.DataFrame | None = None,
                    similarities: pd.DataFrame | None = None) -> pd.DataFrame:
    """The encoder's 2-D map joined with what the map can be coloured by: correctness, tag, modality,
    encoder-blind (pair cosine above the threshold of the annotation statistics). ``map_frame`` and
    ``similarities`` may be passed in when the caller caches them (they do not change when tags do)."""
    m = map_frame if map_frame is not None else encoders_api().embedding_map(store, benchmark_id, encoder_id, method)
    out = sqlv.item_outcomes(store.cursor(), benchmark_id, models)
    df = m.merge(out.drop(columns=[c for c in ("modality",) if c in m.columns]), on="item_id", how="left")
    import numpy as np
    n = df["n_models"].fillna(0).to_numpy()
    k = df["n_correct"].fillna(0).to_numpy()
    df["correctness"] = np.select([n == 0, k == n, k == 0], ["no prediction", "all models right", "all models wrong"],
                                  "some models wrong")
    idx = annotation_index(store, benchmark_id)
    first_tag = (idx.rows.assign(top=idx.rows["tag"].astype(str).str.split("/").str[0])
                 .groupby("unit_id")["top"].first()) if not idx.rows.empty else pd.Series(dtype=str)
    df["tag"] = df["unit_id"].map(first_tag).fillna("untagged")
    try:
        stats = annotations_module("stats")
        sims = similarities if similarities is not None else stats.encoder_similarities(store, benchmark_id)
        col = f"sim_{encoder_id}"
        if col in sims.columns:
            blind = sims.set_index("pair_id")[col] >= getattr(stats, "ENCODER_BLIND_THRESHOLD", 0.9)
            df["encoder_blind"] = df["unit_id"].map(blind).map(
                lambda v: "not a pair" if pd.isna(v) else ("encoder-blind" if v else "encoder tells apart"))
    except (NotAvailable, MedvizError, KeyError):
        pass
    if "encoder_blind" not in df.columns:
        df["encoder_blind"] = "unknown"
    if "modality" not in df.columns:
        df["modality"] = None
    df["modality"] = df["modality"].fillna("(none)")
    return df


PCA_FIT_SAMPLE = 5000


def pca_map(store, benchmark_id: str, encoder_id: str) -> pd.DataFrame:
    """The encoder's 2-D PCA map from the d×d covariance (eigh) instead of an SVD of the n×d matrix: the same
    axes (up to sign) as ``medviz.encoders.embedding_map``; above ``PCA_FIT_SAMPLE`` images the axes are fitted
    on a seeded sample of that size (every image is still projected), so 20,000 images take about a second
    where the full SVD takes tens of seconds on a small CPU. Same columns as ``embedding_map``."""
    import numpy as np
    encoders_api()
    from .encoders.embed import vectors
    meta, vecs, digest = vectors(store, benchmark_id, encoder_id)
    x = np.asarray(vecs, dtype=np.float32)
    x = x - x.mean(axis=0, keepdims=True)
    if len(x) < 2:
        xy = np.zeros((len(x), 2))
    else:
        fit = x
        if len(x) > PCA_FIT_SAMPLE:
            fit = x[np.random.default_rng(0).choice(len(x), PCA_FIT_SAMPLE, replace=False)]
        cov = (fit.T @ fit).astype(np.float64)
        if cov.shape[0] > 3:
            from scipy.sparse.linalg import eigsh      # only the top two axes: far cheaper than a full eigh
            w, v = eigsh(cov, k=2, which="LA", v0=np.ones(cov.shape[0]))
        else:
            w, v = np.linalg.eigh(cov)
        axes = v[:, np.argsort(w)[::-1][:2]].astype(np.float32)
        xy = x @ axes
        if xy.shape[1] < 2:
            xy = np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))
    pr = core.pairs(store.cursor(), benchmark_id)
    partners = dict(zip(pr["item_1"], pr["item_2"]))
    partners.update(zip(pr["item_2"], pr["item_1"]))
    out = meta.copy()
    out.insert(1, "x", xy[:, 0].astype(float))
    out.insert(2, "y", xy[:, 1].astype(float))
    out["partner_item_id"] = out["item_id"].map(partners)
    out["encoder_id"], out["weights_digest"], out["method"] = encoder_id, digest, "pca"
    return out


MAP_MAX_POINTS = 20_000


def map_sample(df: pd.DataFrame, max_points: int = MAP_MAX_POINTS, seed: int = 0) -> pd.DataFrame:
    """The points the 2-D map draws: all of them, or a fixed random sample when there are more than a
    browser draws smoothly (the caption says so; neighbours and Review still reach every image)."""
    if len(df) <= max_points:
        return df
    return df.sample(n=max_points, random_state=seed).sort_index()
