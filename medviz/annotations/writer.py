"""Annotation writes: a client of the store's one writer (``medviz.writer``), so every write in a process
goes through one thread and one cursor.

Callers (Streamlit sessions, CLI, tests) put a request on the store writer's queue and wait. The writer
thread hands each run of queued annotation requests (up to ``max_batch``) to ``commit_batch``, which applies
it in ONE transaction, commits, and only then wakes each
caller with its result (group commit: one commit per batch instead of one per save). If the batch
transaction fails, each request is retried alone so one bad request cannot sink the others. Permission
checks that need the database (whose annotation is this? was it changed meanwhile?) run inside the
transaction, so they see every earlier save.

``get_writer(store)`` returns the one annotation writer of a ``Store``; ``close_writer`` stops the store's
writer thread too.
"""
from __future__ import annotations

import os
from dataclasses import replace
from datetime import datetime, timezone

import duckdb
import pyarrow as pa

from .. import auth
from ..errors import MedvizError
from ..writer import PerStore, WriteRequest, close_store_writer, store_writer
from ..store import annotations as sql
from ..store import consensus as csql
from . import identity, rules
from .batch import BatchState, annotation as batch_annotation, apply_save, row as batch_row
from .model import Annotation, check_fields
from .taxonomy import Taxonomy, active_taxonomy, taxonomy_for_version

_CACHE_MAX = 200_000
MAX_BULK = 200_000            # annotations in one save_many / tag_targets call (one transaction)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


_Request = WriteRequest
_ONE_INSERT = frozenset({"save", "retract", "save_many"})   # ops written by one INSERT statement


class AnnotationWriter:
    """Owner of all annotation writes for one ``Store`` (use ``get_writer``)."""

    inline = True        # the store writer may apply a request on the caller's thread when it is free

    def __init__(self, store, *, taxonomy: Taxonomy | None = None, max_batch: int = 1000):
        self.store = store
        self.taxonomy = taxonomy or active_taxonomy(store)
        self.max_batch = max(1, int(max_batch))
        self._closed = False
        self._generation = None               # the store writer's generation our caches are valid for
        self._next_rev: int | None = None     # rev_id of the next revision (re-read after a rollback)
        self._known: dict[str, dict | None] = {}   # committed latest revision per annotation id
        self._taxonomies: dict[str, Taxonomy | None] = {self.taxonomy.version: self.taxonomy}
        self.stats = {"batches": 0, "requests": 0, "retried_alone": 0}

    # --- public verbs -------------------------------------------------------------------------------------
    # Each takes ``by``: a principal issued by ``medviz.auth`` (the server passes the request's, the CLI
    # without a server ``auth.file_owner()``). Anything else is refused with ``auth.AuthError``.
    def save(self, annotation: Annotation, by: auth.Principal) -> Annotation:
        """Save a new annotation or the next revision of one as ``by``; returns it with ids, after commit.

        ``annotation.reviewer`` is the author: ``None`` means ``by``; another name is refused (``Forbidden``)
        except for an admin adding a *new* annotation on someone's behalf. Raises MedvizError for invalid
        fields/tags, ``Forbidden`` for editing another reviewer's annotation, MedvizError for an edit based
        on a revision that is no longer current (``annotation.revision`` = the revision you edited).
        """
        p = auth.check(by)
        if annotation.kind != "annotation":
            raise MedvizError("use adjudicate() to save an adjudication", field="kind")
        return self._submit("save", self._prepare(rules.authored(annotation, p)))

    def save_many(self, annotations: list[Annotation], by: auth.Principal) -> list[Annotation]:
        """Save many annotations (new ones or next revisions) as ``by`` in ONE transaction, all or nothing;
        returns them saved, in order. What bulk tagging, import and the API use: one caller, one commit.
        Authors are checked as in ``save``."""
        p = auth.check(by)
        annotations = list(annotations)
        _check_bulk_size(len(annotations))
        prepared = []
        for a in annotations:
            if a.kind != "annotation":
                raise MedvizError("use adjudicate() to save an adjudication", record=a.annotation_id, field="kind")
            prepared.append(self._prepare(rules.authored(a, p)))
        if not prepared:
            return []
        return self._submit("save_many", prepared)

    def tag_targets(self, benchmark_id: str, target_type: str, target_ids: list[str], tags: list[str],
                    by: auth.Principal, *, model: str | None = None, rationale: str = "", confidence: int = 3,
                    proposed_answer: str | None = None) -> list[str]:
        """Bulk tagging by ``by``: one new annotation of theirs with the same tags on each of many targets,
        built as columns and saved in ONE transaction (all or nothing). Checked like a save (once: the fields
        are shared; every target id must be a non-empty string). Returns the new annotation ids, in order."""
        reviewer = auth.check(by).name
        ids = list(target_ids)
        if not ids:
            return []
        _check_bulk_size(len(ids))
        bad = next((k for k, t in enumerate(ids) if not isinstance(t, str) or not t.strip()), None)
        if bad is not None:
            raise MedvizError(f"target id #{bad + 1} must be a non-empty string", field="target_id")
        a = self._prepare(Annotation(benchmark_id, target_type, ids[0], list(tags), reviewer, model=model,
                                     rationale=rationale, confidence=confidence, proposed_answer=proposed_answer))
        n = len(ids)
        hexes = os.urandom(16 * n).hex()

        def const(v, typ):
            return pa.repeat(pa.scalar(v, typ), n)
        cols = {"annotation_id": pa.array([hexes[32 * k:32 * k + 32] for k in range(n)], pa.string()),
                "revision": const(1, pa.int32()), "benchmark_id": const(a.benchmark_id, pa.string()),
                "target_type": const(a.target_type, pa.string()), "target_id": pa.array(ids, pa.string()),
                "model": const(a.model, pa.string()), "tags": const(list(a.tags), pa.list_(pa.string())),
                "rationale": const(a.rationale, pa.string()), "confidence": const(a.confidence, pa.int8()),
                "reviewer": const(a.reviewer, pa.string()), "proposed_answer": const(a.proposed_answer, pa.string()),
                "taxonomy_version": const(a.taxonomy_version, pa.string()), "kind": const("annotation", pa.string()),
                "settles": const([], pa.list_(pa.string())), "retracted": const(False, pa.bool_())}
        return self._submit("tag_targets", (cols, n))

    def retract(self, annotation_id: str, by: auth.Principal) -> Annotation:
        """Delete from the current view (a new revision with ``retracted``); only the author may."""
        p = auth.check(by)
        return self._submit("retract", (annotation_id, p.name))

    def adjudicate(self, annotation: Annotation, by: auth.Principal,
                   settles: list[str] | None = None) -> Annotation:
        """Record ``by``'s adjudicated consensus as its own annotation (kind 'adjudication').

        ``settles``: the annotation ids it resolves (all on the same target). Only adjudicators may.
        """
        p = identity.require_adjudicator(by)
        a = replace(annotation, kind="adjudication", reviewer=p.name,
                    settles=list(settles if settles is not None else annotation.settles))
        return self._submit("save", self._prepare(a))

    def import_rows(self, annotations: list[Annotation], by: auth.Principal, *, source: str = "") -> int:
        """Restore exported annotations as they were (ids, revisions, times) in one transaction, as ``by``.

        Authors other than ``by`` are kept only when ``by`` is an admin; an adjudication must be by someone
        who holds the adjudicator role. A new annotation may arrive at any revision (an export holds the
        current revision); one already in the database only as its next revision, by its author (a jump is
        a revision gap and is refused). ``source`` (the file) is recorded with who imported and when.
        """
        p = auth.check(by)
        if not annotations:
            return 0
        roles: dict[str, str] = {}
        for a in annotations:
            if a.reviewer != p.name and not p.is_admin:
                raise auth.Forbidden(f"this annotation is by '{a.reviewer}'; only admins import annotations on "
                                     f"others' behalf (you are '{p.name}', a {p.role})", record=a.annotation_id,
                                     field="reviewer")
            if a.kind == "adjudication":
                if a.reviewer not in roles:
                    roles[a.reviewer] = p.role if a.reviewer == p.name else auth.known_role(self.store, a.reviewer)
                if roles[a.reviewer] not in (auth.ADJUDICATOR, auth.ADMIN):
                    raise auth.Forbidden(f"forged adjudication: '{a.reviewer}' is not an adjudicator",
                                         record=a.annotation_id, field="kind")
            if not isinstance(a.revision, int) or a.revision < 1:
                raise MedvizError("revision must be a whole number from 1", record=a.annotation_id,
                                  field="revision")
        return self._submit("import", (list(annotations), p.name, source))

    def publish_taxonomy(self, taxonomy: Taxonomy, by: auth.Principal) -> Taxonomy:
        """Make a new taxonomy version the active one for this store (admins only).

        Old annotations keep the version they used; the version string must be new.
        """
        p = auth.require(by, auth.ADMIN, "publish a taxonomy")
        if taxonomy.version in self._taxonomies or taxonomy_for_version(self.store, taxonomy.version) is not None:
            raise MedvizError(f"taxonomy version '{taxonomy.version}' already exists; give the edited taxonomy a "
                              "new version", field="version")
        self._submit("taxonomy", (taxonomy, p.name))
        self.taxonomy = taxonomy
        self._taxonomies[taxonomy.version] = taxonomy
        return taxonomy

    @property
    def closed(self) -> bool:
        return self._closed

    def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        self._submit("noop", None)

    def close(self) -> None:
        """Wait for this writer's queued requests; later requests raise."""
        if not self._closed:
            try:
                self.flush()
            finally:
                self._closed = True

    # --- caller side --------------------------------------------------------------------------------------
    def _taxonomy(self, version: str | None) -> Taxonomy | None:
        if version is None:
            return self.taxonomy
        if version not in self._taxonomies:
            self._taxonomies[version] = taxonomy_for_version(self.store, version)
        return self._taxonomies[version]

    def _prepare(self, a: Annotation) -> Annotation:
        check_fields(a)
        version = a.taxonomy_version or self.taxonomy.version
        tax = self._taxonomy(version)
        if tax is None:
            raise MedvizError(f"unknown taxonomy version '{version}'", record=a.annotation_id, field="taxonomy_version")
        tags = tax.validate_tags(a.tags)
        disputed = tax.path_for_role("answer_key_disputed")
        proposed = (a.proposed_answer or "").strip() or None
        if disputed in tags and proposed is None:
            raise MedvizError(f"'{disputed}' needs your proposed answer", record=a.annotation_id,
                              field="proposed_answer")
        return replace(a, tags=tags, taxonomy_version=version, proposed_answer=proposed,
                       reviewer=a.reviewer.strip(), rationale=a.rationale.replace("\r\n", "\n"))

    def _submit(self, op: str, payload):
        if self._closed:
            raise MedvizError("the annotation writer is closed")
        return store_writer(self.store).submit(self, op, payload).wait()

    # --- writer thread (called by the store writer with a run of queued annotation requests) ---------------
    def commit_batch(self, writer, cur, batch: list[_Request]) -> None:
        if writer.generation != self._generation:     # someone else may have written: re-read state
            self._next_rev = None
            self._known.clear()
            self._generation = writer.generation
        self._commit(cur, batch)

    def _commit(self, cur, batch: list[_Request]) -> None:
        self.stats["batches"] += 1
        self.stats["requests"] += len(batch)
        outcomes: list = []
        # One request that writes one INSERT (a save, a retraction, a bulk save) needs no explicit transaction:
        # its checks only read, the one writer means nothing changes in between, and a single autocommitted
        # statement is all or nothing. Anything else (several requests, an import, which also records itself,
        # a bulk tag, which also keeps the consensus exact) is one BEGIN ... COMMIT.
        bulk_tag = len(batch) == 1 and batch[0].op == "tag_targets"
        explicit = bulk_tag or len(batch) > 1 or batch[0].op not in _ONE_INSERT
        try:
            if explicit:
                cur.execute("BEGIN TRANSACTION")
            rows: list[dict] = []
            if self._next_rev is None:
                self._next_rev = sql.max_rev_id(cur) + 1
            if len(self._known) > _CACHE_MAX:
                self._known.clear()
            state = BatchState(cur, self._next_rev, self._known)
            state.prefetch(batch)
            tables: list[pa.Table] = []           # column-built rows (tag_targets)
            for req in batch:
                try:
                    res, new_rows = self._apply(state, req)
                    if isinstance(new_rows, pa.Table):
                        tables.append(new_rows)
                    else:
                        rows += new_rows
                    outcomes.append((res, None))
                except MedvizError as e:
                    outcomes.append((None, e))
            if 0 < len(rows) <= sql.SMALL_BATCH:
                sql.insert_rows(cur, rows)
            elif rows:
                sql.insert_revisions(cur, pa.Table.from_pylist(rows, schema=sql.REVISION_SCHEMA))
            for table in tables:
                sql.insert_revisions(cur, table)
            if bulk_tag and tables:           # and the consensus, exact for everything up to them
                first = tables[0]["rev_id"][0].as_py()
                csql.finish_bulk_tag(cur, tables[0], first, first + tables[0].num_rows - 1)
            if explicit:
                cur.execute("COMMIT")
            self._next_rev = state.next_rev
            self._known.update(state.pending)
        except Exception as e:  # noqa: BLE001 - any database failure: roll back, then retry one by one
            self._next_rev = None
            if explicit:
                try:
                    cur.execute("ROLLBACK")
                except duckdb.Error:
                    pass
            if len(batch) > 1:
                for req in batch:
                    self.stats["retried_alone"] += 1
                    self._commit(cur, [req])
                return
            err = e if isinstance(e, MedvizError) else MedvizError(f"could not save the annotation ({e})")
            outcomes = [(None, err)]
        for req, (res, err) in zip(batch, outcomes):
            req.finish(res, err)

    def _apply(self, state: "BatchState", req: _Request):
        if req.op == "noop":
            return None, []
        if req.op == "taxonomy":
            tax, who = req.payload
            sql.publish_taxonomy(state.cur, tax.version, tax.to_json(), who, _utcnow())
            return tax.version, []
        if req.op == "import":
            anns, who, source = req.payload
            ordered = rules.check_import(state, anns)        # everything first: an import is all or nothing
            rows = [state.add(batch_row(a)) for a in ordered]
            ids = sorted({a.annotation_id for a in anns})
            sql.record_import(state.cur, who, _utcnow(), source, ids)
            return len(ids), rows
        if req.op == "retract":
            annotation_id, name = req.payload
            prev = state.latest(annotation_id)
            if prev is None:
                raise MedvizError("no such annotation", record=annotation_id, field="annotation_id")
            identity.require_edit(name, prev["reviewer"], annotation_id)
            if prev["retracted"]:
                raise MedvizError("this annotation is already retracted", record=annotation_id)
            row = dict(prev, revision=prev["revision"] + 1, retracted=True, updated_at=_utcnow())
            return batch_annotation(row), [state.add(row)]
        if req.op == "tag_targets":           # new annotations only: nothing to look up
            cols, n = req.payload
            first = state.next_rev
            state.next_rev += n
            now = _utcnow()
            table = pa.table(dict(cols, rev_id=pa.array(range(first, first + n), pa.int64()),
                                  created_at=pa.repeat(pa.scalar(now, pa.timestamp("us")), n),
                                  updated_at=pa.repeat(pa.scalar(now, pa.timestamp("us")), n)))
            return cols["annotation_id"].to_pylist(), table.select(sql.REVISION_SCHEMA.names).cast(sql.REVISION_SCHEMA)
        if req.op == "save_many":             # all or nothing: the first error fails the whole list
            out, rows = [], []
            snapshot = (state.next_rev, dict(state.pending))
            try:
                for a in req.payload:
                    res, row = apply_save(state, a)
                    out.append(res)
                    rows.append(row)
            except MedvizError:
                state.next_rev, state.pending = snapshot
                raise
            return out, rows
        res, row = apply_save(state, req.payload)   # save (annotation or adjudication)
        return res, [row]


def _check_bulk_size(n: int) -> None:
    if n > MAX_BULK:
        raise MedvizError(f"{n:,} annotations in one call; at most {MAX_BULK:,} (split the list)", field="annotations")


# --- one writer per Store (the store writer's thread finishes pending writes at exit) ----------------------
_writers = PerStore(AnnotationWriter)


def get_writer(store) -> AnnotationWriter:
    """The single annotation writer of this store (created on first use)."""
    return _writers.get(store)


def close_writer(store) -> None:
    """Finish pending writes, bring the consensus up to date (so the file is left complete, e.g. after an
    import from the CLI) and stop the writer thread (before ``store.close()``)."""
    w = _writers.pop(store)
    if w is not None:
        w.close()
    if not getattr(store, "read_only", False):
        try:
            synced, newest = csql.consensus_lag(store.cursor())
            if synced != newest:
                store_writer(store).execute_write_fn(csql.sync_consensus)
        except duckdb.Error:        # the store is already closed: the next writable open's first read syncs it
            pass
    close_store_writer(store)
