"""Tagged failure modes out as CSV / Parquet, and back in.

One row per current annotation x tag, with what a researcher needs beside the tag: the target's images,
modality, categories, department, question and options, the model's raw and parsed answers and the correct
answer per image (slot order), the unit's ``outcome`` for that model (correct / confused / invalid / wrong,
as the Errors page defines them), the tag as ``tag_group`` + ``tag`` (the sub-tag; empty for a top-level
tag), the similarities shipped with the benchmark and one encoder medviz computed (``encoder_id``,
``encoder_weights_sha256``, ``encoder_similarity``), a ``review_url`` opening the unit in the app (base
``MEDVIZ_BASE_URL``, default http://localhost:8501) and the medviz version.

CSV is UTF-8 text; lists are joined (``;`` for per-image values, ``; `` for categories, `` | `` for options)
and text may hold commas, quotes and newlines. Parquet keeps native types: lists, integers (confidence,
revision), timestamps (``*_utc``, UTC) and floats.

CSV injection (OWASP): a text cell a spreadsheet would run as a formula (starting with ``=``, ``+``,
``-``, ``@``, tab, CR or NUL) is written with a leading ``'``. So that import can undo this exactly, a cell
that already starts with quotes followed by such a character gets one more quote; import removes one quote
from every cell matching ``'+[=+\\-@\\t\\r\\x00]``. Export -> import -> export gives identical files.
The export is one SQL statement (medviz.store.annotation_export.export_query): neutralising, time formatting and
the CSV writing happen in DuckDB.
"""
from __future__ import annotations

import os
import re
import tempfile
from datetime import datetime

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import __version__, limits
from .annotations.model import Annotation
from .annotations.queries import ALL_MODELS
from .errors import MedvizError
from .store import annotation_export as xsql

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\x00")
_NEUTRALISED = re.compile(r"^'+[=+\-@\t\r\x00]")
_NEEDS_QUOTE = re.compile(xsql.NEEDS_QUOTE_RE)      # the same rule the export applies in SQL
NO_COMPUTED_SIM = "encoder_similarity"   # the computed-encoder similarity (empty when medviz computed none)
DEFAULT_BASE_URL = "http://localhost:8501"   # where review_url points; MEDVIZ_BASE_URL or base_url= change it

COLUMNS = ["benchmark_id", "target_type", "target_id", "item_ids", "image_ids", "modality", "categories",
           "department", "model", "question", "options", "raw_answer", "parsed_answer", "correct_answer", "outcome",
           "tag_group", "tag", "taxonomy_version", "reviewer", "confidence", "rationale", "proposed_answer", "kind",
           "settles", "annotation_id", "revision", "created_at_utc", "updated_at_utc", "biomedclip_sim_benchmark",
           "dino_sim_benchmark", "encoder_id", "encoder_weights_sha256", "encoder_similarity", "review_url",
           "medviz_version"]
ANNOTATION_COLUMNS = ["benchmark_id", "target_type", "target_id", "model", "tag_group", "tag", "taxonomy_version",
                      "reviewer", "confidence", "rationale", "proposed_answer", "kind", "settles", "annotation_id",
                      "revision", "created_at_utc", "updated_at_utc"]
_TIME_FMT = "%Y-%m-%dT%H:%M:%S.%f"


def default_base_url() -> str:
    return (os.environ.get("MEDVIZ_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


def neutralise(cell: str) -> str:
    """A text cell safe to open in a spreadsheet (see module docstring)."""
    return "'" + cell if _NEEDS_QUOTE.match(cell) else cell


def unneutralise(cell: str) -> str:
    return cell[1:] if _NEUTRALISED.match(cell) else cell


def _computed_sims(store, benchmark_id: str | None, encoder: str | None):
    """Arrow table (benchmark_id, pair_id, encoder_id, encoder_weights_sha256, encoder_similarity) for one
    encoder medviz computed on the exported benchmarks (``encoder``, or the first computed one by name), or
    None when there is none (the common case: no numpy work at all)."""
    cur = store.cursor()
    try:
        if not cur.execute("SELECT 1 FROM embeddings LIMIT 1").fetchall():
            return None
    except duckdb.CatalogException:        # the embeddings component is not in this database
        return None
    benches = [r[0] for r in cur.execute(
        "SELECT DISTINCT benchmark_id FROM annotation_revisions WHERE benchmark_id = coalesce(?, benchmark_id) "
        "ORDER BY 1", [benchmark_id]).fetchall()]
    from .annotations.stats import encoder_similarities
    frames = []
    for b in benches:
        sdf = encoder_similarities(store, b)
        digests = sdf.attrs.get("weights_sha256", {})
        encs = sorted(digests) if encoder is None else [encoder] if encoder in digests else []
        if encs:
            enc = encs[0]
            frames.append(pd.DataFrame({"benchmark_id": b, "pair_id": sdf["pair_id"], "encoder_id": enc,
                                        "encoder_weights_sha256": digests[enc],
                                        "encoder_similarity": sdf[f"sim_{enc}"].astype(float)}))
    if not frames:
        return None
    df = pd.concat(frames, ignore_index=True)
    return pa.Table.from_pandas(df[df["encoder_similarity"].notna()], preserve_index=False)


def _export(store, *, benchmark_id, model, modality, for_csv: bool, out_csv: str | None = None,
            encoder: str | None = None, base: str | None = None):
    """Run the one export statement: to a CSV file (``out_csv``) or as an Arrow table."""
    sims = _computed_sims(store, benchmark_id, encoder)
    cur = store.new_cursor()
    try:
        query, params = xsql.export_query(
            benchmark_id=benchmark_id, model=model, modality=modality, columns=COLUMNS, version=__version__,
            base_url=(base or default_base_url()).rstrip("/"), sims_table="_export_sims" if sims is not None else None,
            for_csv=for_csv, pairs=xsql.has_pair_targets(cur, benchmark_id))
        if sims is not None:
            cur.register("_export_sims", sims)
        if out_csv is not None:       # RFC 4180: CRLF, quotes only where needed; NULL never occurs ('' instead)
            cur.execute(f"COPY ({query}) TO ? (FORMAT csv, HEADER, NEW_LINE '\r\n')", params + [out_csv])
            return out_csv
        return cur.sql(query, params=params).to_arrow_table()
    finally:
        cur.close()


def annotation_table(store, *, benchmark_id: str | None = None, model: str | None = None,
                     modality: str | None = None, encoder: str | None = None,
                     base_url: str | None = None) -> pd.DataFrame:
    """The export rows as a DataFrame with native types (lists, integers, timestamps, floats)."""
    return _export(store, benchmark_id=benchmark_id, model=model, modality=modality, for_csv=False,
                   encoder=encoder, base=base_url).to_pandas()


def export_annotations(store, out_path: str | None = None, *, fmt: str = "csv", benchmark_id: str | None = None,
                       model: str | None = None, modality: str | None = None, encoder: str | None = None,
                       base_url: str | None = None):
    """Write the export; returns the bytes when ``out_path`` is None (for a download button), else the path.

    One SQL statement: CSV is written by DuckDB with every text cell neutralised in SQL; Parquet from the
    same rows un-neutralised.
    """
    kw = dict(benchmark_id=benchmark_id, model=model, modality=modality, encoder=encoder, base=base_url)
    return _write(fmt, out_path, lambda target: _export(store, for_csv=True, out_csv=target, **kw),
                  lambda: _export(store, for_csv=False, **kw))


def _write(fmt: str, out_path: str | None, write_csv, arrow_table):
    """Write an export atomically (a ``.part`` file renamed at the end): ``write_csv(path)`` for CSV, Parquet
    from ``arrow_table()``. Returns the bytes when ``out_path`` is None, else the path."""
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
            write_csv(target)
        else:
            pq.write_table(arrow_table(), target)
        if out_path is None:
            with open(target, "rb") as f:
                return f.read()
        os.replace(target, out_path)
        return out_path
    finally:
        if os.path.exists(target):
            os.remove(target)


def export_outcomes(store, benchmark_id: str, out_path: str | None = None, *, fmt: str = "csv",
                    models: list[str] | None = None, error_filter=None, base_url: str | None = None):
    """Per (unit, model) outcomes of an Errors filter (``medviz.readmodels.errors.ErrorFilter``; default: the
    Errors page's default, every error): one row each with the outcome label, the letters answered and the
    correct ones per image, the unit's question / modality / categories and a ``review_url``. One SQL
    statement, CSV written by DuckDB (text neutralised like the annotation export) or Parquet (native types)."""
    from .readmodels.errors import ErrorFilter, annotation_index
    from .store import core, views as sqlv
    if core.benchmark(store.cursor(), benchmark_id) is None:
        raise MedvizError(f"benchmark '{benchmark_id}' is not in the store", record=benchmark_id, field="benchmark")
    f = error_filter if error_filter is not None else ErrorFilter()
    needs_index = bool(f.tags or f.reviewers or f.tagged)
    sf = f.sql_filter(annotation_index(store, benchmark_id) if needs_index else None)
    base = (base_url or default_base_url()).rstrip("/")

    def run(for_csv: bool, target: str | None = None):
        q, params = sqlv.outcome_export_query(benchmark_id, list(models or []), sf, base_url=base, for_csv=for_csv)
        cur = store.new_cursor()
        try:
            if target is not None:
                cur.execute(f"COPY ({q}) TO ? (FORMAT csv, HEADER, NEW_LINE '\r\n')", params + [target])
                return target
            return cur.sql(q, params=params).to_arrow_table()
        finally:
            cur.close()
    return _write(fmt, out_path, lambda target: run(True, target), lambda: run(False))


def failure_mode_table(store, benchmark_id: str, models: list[str] | None = None, *, level: str = "tag",
                       exclude_disputed: bool = False) -> pd.DataFrame:
    """Failure mode x model: reviewed units, units with the mode, rate and 95% Wilson interval (tidy rows:
    ``failure_mode``, ``model``, ``count``, ``n``, ``rate``, ``ci_low``, ``ci_high``). ``level='top'`` rolls
    sub-tags up to their group. A unit is (target, model); annotations for all models count as their own
    model ``(all models)``."""
    from .annotations.stats import failure_mode_stats
    df = failure_mode_stats(store, benchmark_id, by=("model",), level=level, exclude_disputed=exclude_disputed)
    if models:
        df = df[df["model"].isin(list(models) + [ALL_MODELS])]
    df = df.rename(columns={"tag": "failure_mode"})
    return df[["failure_mode", "model", "count", "n", "rate", "ci_low", "ci_high"]].reset_index(drop=True)


def _cell(r) -> str:
    return f"{r['count']}/{r['n']} ({100 * r['rate']:.0f}%, {100 * r['ci_low']:.0f}–{100 * r['ci_high']:.0f})"


def failure_mode_pivot(df: pd.DataFrame) -> pd.DataFrame:
    """The tidy table as failure mode rows x model columns, cells ``k/n (rate%, low–high)``."""
    if df.empty:
        return pd.DataFrame(columns=["failure mode"])
    d = df.assign(cell=[_cell(r) for _, r in df.iterrows()])
    wide = d.pivot(index="failure_mode", columns="model", values="cell").fillna("–")
    wide.columns.name = None
    return wide.reset_index().rename(columns={"failure_mode": "failure mode"})


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def failure_mode_markdown(df: pd.DataFrame) -> str:
    """A Markdown table (failure mode x model) with counts and 95% Wilson intervals, and its legend."""
    wide = failure_mode_pivot(df)
    cols = list(wide.columns)
    esc = lambda v: str(v).replace("|", "\\|").replace("\n", " ")    # noqa: E731
    lines = ["| " + " | ".join(esc(c) for c in cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(esc(v) for v in row) + " |" for row in wide.itertuples(index=False)]
    return "\n".join(lines) + ("\n\nCells: units with the failure mode / reviewed units of the model (rate, 95% "
                                "Wilson interval in %).\n")


def failure_mode_latex(df: pd.DataFrame, caption: str = "Failure modes by model") -> str:
    """A LaTeX ``table`` (booktabs) of the same table; every cell escaped."""
    wide = failure_mode_pivot(df)
    cols = list(wide.columns)
    body = [" & ".join(_latex_escape(v) for v in row) + r" \\" for row in wide.itertuples(index=False)]
    return "\n".join([
        r"\begin{table}[t]", r"\centering", r"\small",
        r"\begin{tabular}{l" + "r" * (len(cols) - 1) + "}", r"\toprule",
        " & ".join(_latex_escape(c) for c in cols) + r" \\", r"\midrule", *body, r"\bottomrule", r"\end{tabular}",
        r"\caption{" + _latex_escape(caption) + r". Cells: units with the failure mode / reviewed units "
        r"(rate, 95\% Wilson interval in \%).}", r"\end{table}", ""])


def export_failure_modes(store, benchmark_id: str, out_path: str | None = None, *, fmt: str = "csv",
                         models: list[str] | None = None, level: str = "tag"):
    """The failure mode x model table as ``csv`` (tidy rows), ``markdown`` or ``latex``; bytes or the path."""
    if fmt not in ("csv", "markdown", "latex"):
        raise MedvizError(f"unknown table format '{fmt}' (csv, markdown or latex)", field="format")
    df = failure_mode_table(store, benchmark_id, models, level=level)
    if fmt == "csv":
        data = df.to_csv(index=False, lineterminator="\r\n", float_format="%.6g").encode("utf-8")
    elif fmt == "markdown":
        data = failure_mode_markdown(df).encode("utf-8")
    else:
        data = failure_mode_latex(df, f"Failure modes by model on {benchmark_id}").encode("utf-8")
    if out_path is None:
        return data
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with open(out_path + ".part", "wb") as fh:
        fh.write(data)
    os.replace(out_path + ".part", out_path)
    return out_path


def read_export(path: str) -> pd.DataFrame:
    """An export file (CSV or Parquet) as text cells, with the CSV neutralising quotes removed."""
    try:
        if path.lower().endswith(".parquet"):
            return _parquet_as_text(pq.read_table(path).to_pandas())
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except FileNotFoundError:
        raise MedvizError("file not found", file=path) from None
    except (UnicodeDecodeError, pd.errors.ParserError, pa.ArrowInvalid, OSError) as e:
        raise MedvizError(f"not a readable annotation export ({e})", file=path) from None
    return df.map(unneutralise)


def _parquet_as_text(df: pd.DataFrame) -> pd.DataFrame:
    """Parquet cells (native types) as the text the CSV export writes for them."""
    types = {c: t for c, (_, t) in xsql.EXPORT_COLUMNS.items()}

    def cell(v, typ):
        if v is None or v is pd.NaT or (isinstance(v, float) and v != v):
            return ""
        if typ == "ts":
            return pd.Timestamp(v).strftime(_TIME_FMT)
        if typ.startswith("list:"):
            return typ[5:].join("" if x is None else str(x) for x in v)
        if typ == "float":
            return f"{v:.6g}"
        return str(v)
    out = pd.DataFrame(index=df.index)
    for c in df.columns:
        typ = types.get(c, "text")
        out[c] = [cell(v, typ) for v in df[c].tolist()]
    return out


def full_tag(group: str, sub: str) -> str:
    """The taxonomy path from the export's ``tag_group`` and ``tag`` (empty for a top-level tag)."""
    return f"{group}/{sub}" if sub else group


def _parse_time(v: str, path: str, row: int, field: str) -> datetime:
    try:
        return datetime.strptime(v, _TIME_FMT)
    except ValueError:
        raise MedvizError(f"not a time like 2025-01-31T12:00:00.000000: {v!r}", file=path, record=f"row {row}",
                          field=field) from None


def annotations_from_export(df: pd.DataFrame, path: str = "<export>") -> list[Annotation]:
    """Rebuild annotations (one per ``annotation_id``, tags in row order) from export rows."""
    if "tag_group" not in df.columns and "tag" in df.columns:     # exports before tag_group held the full path
        df = df.assign(tag_group=df["tag"], tag="")
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
        tag = full_tag(r.tag_group, r.tag)
        fields = {c: getattr(r, c) for c in ANNOTATION_COLUMNS
                  if c not in ("tag_group", "tag", "confidence", "revision")}
        fields.update(confidence=conf, revision=rev)
        if aid in out:
            differ = [c for c in fields if fields[c] != fields_seen[aid][c]]
            if differ:
                raise MedvizError(f"rows of annotation {aid} disagree on '{differ[0]}'", file=path,
                                  record=f"row {i}", field=differ[0])
            if tag in out[aid].tags:
                raise MedvizError(f"tag repeated for annotation {aid}", file=path, record=f"row {i}", field="tag")
            out[aid].tags.append(tag)
            continue
        fields_seen[aid] = fields
        out[aid] = Annotation(
            benchmark_id=r.benchmark_id, target_type=r.target_type, target_id=r.target_id, tags=[tag],
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
    limits.check_file_size(path, what="annotation file")
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
