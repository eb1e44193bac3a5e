"""Tagged failure modes out as CSV / Parquet, and back in.

One row per current annotation x tag, with what a researcher needs beside the tag: the target's images,
modality, categories, department, the model's raw and parsed answers, the correct answer, encoder
similarities and the medviz version. CSV is UTF-8; text may hold commas, quotes and newlines.

CSV injection (OWASP): a text cell a spreadsheet would run as a formula (starting with ``=``, ``+``,
``-``, ``@``, tab or CR) is written with a leading ``'``. So that import can undo this exactly, a cell that
already starts with quotes followed by such a character gets one more quote; import removes one quote
from every cell matching ``'+[=+\\-@\\t\\r]``. Export -> import -> export gives identical files.
"""
from __future__ import annotations

import io
import math
import os
import re
from datetime import datetime

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import __version__
from .annotations.model import Annotation
from .annotations.queries import ALL_MODELS, current_annotations
from .errors import MedvizError
from .store import annotations as sql

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NEUTRALISED = re.compile(r"^'+[=+\-@\t\r]")
_NEEDS_QUOTE = re.compile(r"^'*[=+\-@\t\r]")
NO_COMPUTED_SIM = "encoder_similarity_computed"   # empty column when medviz computed no embeddings

COLUMNS = ["benchmark_id", "target_type", "target_id", "item_ids", "image_ids", "modality", "categories",
           "department", "model", "raw_answer", "parsed_answer", "correct_answer", "tag", "taxonomy_version",
           "reviewer", "confidence", "rationale", "proposed_answer", "kind", "settles", "annotation_id",
           "revision", "created_at_utc", "updated_at_utc", "biomedclip_sim_benchmark", "dino_sim_benchmark"]
ANNOTATION_COLUMNS = ["benchmark_id", "target_type", "target_id", "model", "tag", "taxonomy_version", "reviewer",
                      "confidence", "rationale", "proposed_answer", "kind", "settles", "annotation_id", "revision",
                      "created_at_utc", "updated_at_utc"]
_TIME_FMT = "%Y-%m-%dT%H:%M:%S.%f"


def neutralise(cell: str) -> str:
    """A text cell safe to open in a spreadsheet (see module docstring)."""
    return "'" + cell if _NEEDS_QUOTE.match(cell) else cell


def unneutralise(cell: str) -> str:
    return cell[1:] if _NEUTRALISED.match(cell) else cell


def _ts(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT:
        return ""
    return pd.Timestamp(v).strftime(_TIME_FMT)


def _s(v) -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return ""
    return str(v)


def annotation_table(store, *, benchmark_id: str | None = None, model: str | None = None,
                     modality: str | None = None) -> pd.DataFrame:
    """The export rows as a DataFrame (text columns as str, similarities as float)."""
    cur = store.cursor()
    ann = current_annotations(store, benchmark_id, model=model)
    sims_cols: list[str] = []
    if ann.empty:
        return pd.DataFrame(columns=COLUMNS + [NO_COMPUTED_SIM, "medviz_version"])
    ctx_df = sql.target_context(cur, benchmark_id)
    ctx = {(r["benchmark_id"], r["target_type"], r["target_id"]): r for r in ctx_df.to_dict("records")}
    preds = {(r["benchmark_id"], r["target_type"], r["target_id"], r["model"]): r
             for r in sql.target_predictions(cur, benchmark_id).to_dict("records")}
    sims: dict[str, dict] = {}
    from .annotations.stats import encoder_similarities
    for b in sorted(ann["benchmark_id"].unique()):
        sdf = encoder_similarities(store, b)
        sims[b] = {r["pair_id"]: r for r in sdf.to_dict("records")}
        sims_cols += [c for c in sdf.columns if c.startswith("sim_") and c not in sims_cols]
    ann = ann.sort_values(["benchmark_id", "target_type", "target_id", "created_at", "annotation_id"], kind="stable")
    rows = []
    for a in ann.itertuples():
        key = (a.benchmark_id, a.target_type, a.target_id)
        c = ctx.get(key)
        mod = _s(c["modality"]) if c is not None else ""
        if modality is not None and modality.strip().lower() not in [m.strip().lower() for m in mod.split("|")]:
            continue
        m = a.model if isinstance(a.model, str) else None
        p = preds.get(key + (m,)) if m is not None else None
        pair_sims = sims[a.benchmark_id].get(a.target_id) if a.target_type == "pair" else None
        cats = c["categories"] if c is not None else None
        base = {
            "benchmark_id": a.benchmark_id, "target_type": a.target_type, "target_id": a.target_id,
            "item_ids": _s(c["item_ids"]) if c is not None else "",
            "image_ids": _s(c["image_ids"]) if c is not None else "",
            "modality": mod,
            "categories": "; ".join(cats) if cats is not None and len(cats) else "",
            "department": _s(c["department"]) if c is not None else "",
            "model": m if m is not None else ALL_MODELS,
            "raw_answer": _s(p["raw_answer"]) if p is not None else "",
            "parsed_answer": _s(p["parsed_answer"]) if p is not None else "",
            "correct_answer": _s(c["correct_answer"]) if c is not None else "",
            "taxonomy_version": _s(a.taxonomy_version), "reviewer": a.reviewer, "confidence": str(int(a.confidence)),
            "rationale": _s(a.rationale), "proposed_answer": _s(a.proposed_answer), "kind": a.kind,
            "settles": ";".join(a.settles) if a.settles is not None and len(a.settles) else "",
            "annotation_id": a.annotation_id, "revision": str(int(a.revision)),
            "created_at_utc": _ts(a.created_at), "updated_at_utc": _ts(a.updated_at),
            "biomedclip_sim_benchmark": float(pair_sims["biomedclip_sim"]) if pair_sims is not None else math.nan,
            "dino_sim_benchmark": float(pair_sims["dino_sim"]) if pair_sims is not None else math.nan,
        }
        for col in sims_cols:
            base[col] = float(pair_sims[col]) if pair_sims is not None and col in pair_sims else math.nan
        for tag in a.tags:
            rows.append(dict(base, tag=tag))
    cols = COLUMNS + (sims_cols or [NO_COMPUTED_SIM]) + ["medviz_version"]
    df = pd.DataFrame(rows, columns=cols)
    if not sims_cols:
        df[NO_COMPUTED_SIM] = math.nan
    df["medviz_version"] = __version__
    return df


def export_annotations(store, out_path: str | None = None, *, fmt: str = "csv", benchmark_id: str | None = None,
                       model: str | None = None, modality: str | None = None):
    """Write the export; returns the bytes when ``out_path`` is None (for a download button), else the path."""
    if fmt not in ("csv", "parquet"):
        raise MedvizError(f"unknown export format '{fmt}' (csv or parquet)", field="format")
    df = annotation_table(store, benchmark_id=benchmark_id, model=model, modality=modality)
    if fmt == "csv":
        out = df.copy()
        for col in out.columns:
            if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
                out[col] = out[col].map(lambda v: neutralise(v) if isinstance(v, str) else v)
        data = out.to_csv(index=False, lineterminator="\r\n", float_format="%.6g").encode("utf-8")  # RFC 4180
    else:
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), buf)
        data = buf.getvalue()
    if out_path is None:
        return data
    parent = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(parent, exist_ok=True)
    tmp = out_path + ".part"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, out_path)
    return out_path


def read_export(path: str) -> pd.DataFrame:
    """An export file (CSV or Parquet) as text cells, with the CSV neutralising quotes removed."""
    try:
        if path.lower().endswith(".parquet"):
            df = pq.read_table(path).to_pandas()
            return df.astype(object).where(df.notna(), "").map(lambda v: v if isinstance(v, str) else str(v))
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except FileNotFoundError:
        raise MedvizError("file not found", file=path) from None
    except (UnicodeDecodeError, pd.errors.ParserError, pa.ArrowInvalid, OSError) as e:
        raise MedvizError(f"not a readable annotation export ({e})", file=path) from None
    return df.map(unneutralise)


def _parse_time(v: str, path: str, row: int, field: str) -> datetime:
    try:
        return datetime.strptime(v, _TIME_FMT)
    except ValueError:
        raise MedvizError(f"not a time like 2025-01-31T12:00:00.000000: {v!r}", file=path, record=f"row {row}",
                          field=field) from None


def annotations_from_export(df: pd.DataFrame, path: str = "<export>") -> list[Annotation]:
    """Rebuild annotations (one per ``annotation_id``, tags in row order) from export rows."""
    missing = [c for c in ANNOTATION_COLUMNS if c not in df.columns]
    if missing:
        raise MedvizError(f"missing column(s): {', '.join(missing)} (is this a medviz annotation export?)",
                          file=path, field=missing[0])
    out: dict[str, Annotation] = {}
    fields_seen: dict[str, tuple] = {}
    for i, r in enumerate(df[ANNOTATION_COLUMNS].itertuples(index=False), start=2):   # row 1 = header
        aid = r.annotation_id.strip()
        if not aid:
            raise MedvizError("empty annotation_id", file=path, record=f"row {i}", field="annotation_id")
        try:
            conf = int(r.confidence)
            rev = int(r.revision)
        except ValueError:
            raise MedvizError("confidence and revision must be whole numbers", file=path, record=f"row {i}",
                              field="confidence") from None
        fields = {c: getattr(r, c) for c in ANNOTATION_COLUMNS if c not in ("tag", "confidence", "revision")}
        fields.update(confidence=conf, revision=rev)
        if aid in out:
            differ = [c for c in fields if fields[c] != fields_seen[aid][c]]
            if differ:
                raise MedvizError(f"rows of annotation {aid} disagree on '{differ[0]}'", file=path,
                                  record=f"row {i}", field=differ[0])
            if r.tag in out[aid].tags:
                raise MedvizError(f"tag repeated for annotation {aid}", file=path, record=f"row {i}", field="tag")
            out[aid].tags.append(r.tag)
            continue
        fields_seen[aid] = fields
        out[aid] = Annotation(
            benchmark_id=r.benchmark_id, target_type=r.target_type, target_id=r.target_id, tags=[r.tag],
            reviewer=r.reviewer, model=None if r.model in ("", ALL_MODELS) else r.model, rationale=r.rationale,
            confidence=conf, proposed_answer=r.proposed_answer or None, taxonomy_version=r.taxonomy_version or None,
            annotation_id=aid, revision=rev, kind=r.kind or "annotation",
            settles=[s for s in r.settles.split(";") if s], retracted=False,
            created_at=_parse_time(r.created_at_utc, path, i, "created_at_utc"),
            updated_at=_parse_time(r.updated_at_utc, path, i, "updated_at_utc"))
    return list(out.values())


def import_annotations(store, path: str, *, by) -> int:
    """Restore an export (all or nothing) as principal ``by``; returns the number of annotations added.

    Ids, revisions, reviewers and times are kept, so exporting again gives the same rows. Each annotation
    is checked like a save (fields, confidence, tags of its taxonomy version when that version is known).
    Others' annotations are kept only for an admin; adjudications must be by adjudicators; revision gaps
    are refused; who imported which annotations is recorded (see ``AnnotationWriter.import_rows``).
    """
    from .annotations.model import check_fields
    from .annotations.taxonomy import taxonomy_for_version
    from .annotations.writer import get_writer
    anns = annotations_from_export(read_export(path), path)
    known: dict = {}
    for a in anns:
        try:
            check_fields(a)
            v = a.taxonomy_version
            if v not in known:
                known[v] = taxonomy_for_version(store, v)
            if known[v] is not None:
                known[v].validate_tags(a.tags)
        except MedvizError as e:
            raise MedvizError(e.detail, file=path, record=f"annotation {a.annotation_id}", field=e.field) from None
    try:
        return get_writer(store).import_rows(anns, by, source=os.path.basename(path))
    except MedvizError as e:
        if e.file:
            raise
        raise type(e)(e.detail, file=path, record=e.record and f"annotation {e.record}", field=e.field) from None
