"""Tagged failure modes out as CSV / Parquet, and back in.

One row per current annotation x tag, with what a researcher needs beside the tag: the target's images,
modality, categories, department, the model's raw and parsed answers, the correct answer, encoder
similarities and the medviz version. CSV is UTF-8; text may hold commas, quotes and newlines.

CSV injection (OWASP): a text cell a spreadsheet would run as a formula (starting with ``=``, ``+``,
``-``, ``@``, tab, CR or NUL) is written with a leading ``'``. So that import can undo this exactly, a cell
that already starts with quotes followed by such a character gets one more quote; import removes one quote
from every cell matching ``'+[=+\\-@\\t\\r\\x00]``. Export -> import -> export gives identical files.
The export is one SQL statement (medviz.store.annotations.export_query): neutralising, time formatting and
the CSV writing happen in DuckDB.
"""
from __future__ import annotations

import math
import os
import re
import tempfile
from datetime import datetime

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import __version__
from .annotations.model import Annotation
from .annotations.queries import ALL_MODELS
from .errors import MedvizError
from .store import annotations as sql

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\x00")
_NEUTRALISED = re.compile(r"^'+[=+\-@\t\r\x00]")
_NEEDS_QUOTE = re.compile(sql.NEEDS_QUOTE_RE)      # the same rule the export applies in SQL
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


def _computed_sims(store, benchmark_id: str | None):
    """(Arrow table benchmark_id, pair_id, sim_<encoder>..., the sim column names) for the encoders medviz
    computed on the exported benchmarks, or (None, []) when there are none (the common case: no numpy)."""
    cur = store.cursor()
    try:
        if not cur.execute("SELECT 1 FROM embeddings LIMIT 1").fetchall():
            return None, []
    except duckdb.CatalogException:        # the embeddings component is not in this database
        return None, []
    benches = [r[0] for r in cur.execute(
        "SELECT DISTINCT benchmark_id FROM annotation_revisions WHERE benchmark_id = coalesce(?, benchmark_id) "
        "ORDER BY 1", [benchmark_id]).fetchall()]
    from .annotations.stats import encoder_similarities
    frames, cols = [], []
    for b in benches:
        sdf = encoder_similarities(store, b)
        sc = [c for c in sdf.columns if c.startswith("sim_")]
        if sc:
            frames.append(sdf[["pair_id", *sc]].assign(benchmark_id=b))
            cols += [c for c in sc if c not in cols]
    if not cols:
        return None, []
    df = pd.concat(frames, ignore_index=True)
    for c in cols:
        if c not in df.columns:
            df[c] = math.nan
    return pa.Table.from_pandas(df[["benchmark_id", "pair_id", *cols]], preserve_index=False), cols


def _export(store, *, benchmark_id, model, modality, for_csv: bool, out_csv: str | None = None):
    """Run the one export statement: to a CSV file (``out_csv``) or as an Arrow table."""
    sims, sims_cols = _computed_sims(store, benchmark_id)
    float_cols = ["biomedclip_sim_benchmark", "dino_sim_benchmark"] + (sims_cols or [NO_COMPUTED_SIM])
    text_cols = [c for c in COLUMNS if c not in float_cols]
    query, params = sql.export_query(benchmark_id=benchmark_id, model=model, modality=modality,
                                     text_cols=text_cols + ["medviz_version"], float_cols=float_cols,
                                     version=__version__, sims_table="_export_sims" if sims is not None else None,
                                     for_csv=for_csv)
    order = COLUMNS + (sims_cols or [NO_COMPUTED_SIM]) + ["medviz_version"]
    cur = store.new_cursor()
    try:
        if sims is not None:
            cur.register("_export_sims", sims)
        query = f"SELECT {', '.join(chr(34) + c + chr(34) for c in order)} FROM ({query})"
        if out_csv is not None:       # RFC 4180: CRLF, quotes only where needed; NULL never occurs ('' instead)
            cur.execute(f"COPY ({query}) TO ? (FORMAT csv, HEADER, NEW_LINE '\r\n')", params + [out_csv])
            return out_csv
        return cur.sql(query, params=params).to_arrow_table()
    finally:
        cur.close()


def annotation_table(store, *, benchmark_id: str | None = None, model: str | None = None,
                     modality: str | None = None) -> pd.DataFrame:
    """The export rows as a DataFrame (text columns as str, similarities as float)."""
    return _export(store, benchmark_id=benchmark_id, model=model, modality=modality, for_csv=False).to_pandas()


def export_annotations(store, out_path: str | None = None, *, fmt: str = "csv", benchmark_id: str | None = None,
                       model: str | None = None, modality: str | None = None):
    """Write the export; returns the bytes when ``out_path`` is None (for a download button), else the path.

    One SQL statement: CSV is written by DuckDB with every text cell neutralised in SQL; Parquet from the
    same rows un-neutralised.
    """
    if fmt not in ("csv", "parquet"):
        raise MedvizError(f"unknown export format '{fmt}' (csv or parquet)", field="format")
    if out_path is not None:
        os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
        target = out_path + ".part"
    else:
        fd, target = tempfile.mkstemp(suffix=".part", prefix="medviz-export-")
        os.close(fd)
    try:
        if fmt == "csv":
            _export(store, benchmark_id=benchmark_id, model=model, modality=modality, for_csv=True, out_csv=target)
        else:
            pq.write_table(_export(store, benchmark_id=benchmark_id, model=model, modality=modality, for_csv=False),
                           target)
        if out_path is None:
            with open(target, "rb") as f:
                return f.read()
        os.replace(target, out_path)
        return out_path
    finally:
        if os.path.exists(target):
            os.remove(target)


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
