"""The DuckDB file: opening it, the lock message, per-thread cursors, transactions and migrations.

One process owns a database file. Inside that process one ``Store`` holds the single connection and hands
each thread its own ``cursor()`` (DuckDB connections must not be shared across threads). Every component
of the schema (core, annotations, embeddings) keeps its migrations in its own store module and registers
them in ``COMPONENTS`` below; ``Store`` applies whatever is pending on open.
"""
from __future__ import annotations

import importlib
import os
import re
import threading
from contextlib import contextmanager

import duckdb

from ..errors import DatabaseInUse, MedvizError

DEFAULT_DB = "medviz.duckdb"
# component name -> module defining MIGRATIONS: list[str | callable(cursor)]
COMPONENTS = {
    "core": "medviz.store.core",
    "annotations": "medviz.store.annotations",
    "embeddings": "medviz.store.embeddings",
    "tokens": "medviz.store.tokens",
    "jobs": "medviz.store.jobs",
    "reading": "medviz.store.reading",
}


def _code_stamp() -> str:
    """Which schema code this is: path, size and mtime of every component's module (no import)."""
    import importlib.util
    parts = []
    for component, module in COMPONENTS.items():
        origin = importlib.util.find_spec(module).origin
        st = os.stat(origin)
        parts.append(f"{component}={origin}:{st.st_size}:{st.st_mtime_ns}")
    return ";".join(parts)


def first_row(result):
    """The first row of a query result or None, reading the result to its end: ``fetchone()`` would leave the
    result open, and with it a read transaction on that cursor, which makes every later commit of the process
    slower (measured ~1.3 -> ~4 ms per annotation save) until the cursor runs its next statement."""
    rows = result.fetchall()
    return rows[0] if rows else None


def first_record(result) -> dict | None:
    """``first_row`` as {column: value} (plain Python values, no DataFrame for one row)."""
    row = first_row(result)
    return None if row is None else dict(zip([d[0] for d in result.description], row))


def default_db_path() -> str:
    return os.environ.get("MEDVIZ_DB") or DEFAULT_DB


def _lock_message(path: str, err: Exception) -> str:
    m = re.search(r"PID (\d+)", str(err))
    who = f"PID {m.group(1)}" if m else "another process"
    return (f"database {path} is in use by {who} (DuckDB allows one process per file). Close the other "
            "medviz command or app that has it open, or point medviz at another file with --db / MEDVIZ_DB.")


class Store:
    """All database access goes through this object (SQL itself lives in the ``medviz.store`` modules)."""

    def __init__(self, path: str | None = None, *, read_only: bool = False):
        self.path = path or default_db_path()
        if self.path != ":memory:":
            parent = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(parent, exist_ok=True)
        try:
            self.con = duckdb.connect(self.path, read_only=read_only)
        except duckdb.IOException as e:
            if "lock" in str(e).lower():
                raise DatabaseInUse(_lock_message(self.path, e)) from None
            raise MedvizError(f"cannot open database: {e}", file=self.path) from None
        except duckdb.Error as e:
            raise MedvizError(f"not a readable DuckDB database ({e})", file=self.path) from None
        self._local = threading.local()
        self._lock = threading.Lock()
        self.read_only = read_only
        if not read_only:
            self.migrate()
            self._recover_files()

    # --- connections ----------------------------------------------------------------------------------
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor (created on first use)."""
        cur = getattr(self._local, "cur", None)
        if cur is None:
            with self._lock:
                cur = self.con.cursor()
            self._local.cur = cur
        return cur

    def new_cursor(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            return self.con.cursor()

    @contextmanager
    def transaction(self):
        """A cursor inside BEGIN ... COMMIT; any exception rolls everything back and propagates."""
        cur = self.new_cursor()
        cur.execute("BEGIN TRANSACTION")
        try:
            yield cur
        except BaseException:
            cur.execute("ROLLBACK")
            cur.close()
            raise
        cur.execute("COMMIT")
        cur.close()

    def close(self) -> None:
        try:
            self.con.close()
        except duckdb.Error:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- files beside the database --------------------------------------------------------------------
    @property
    def files_dir(self) -> str:
        """Folder for images and caches that belong to this database."""
        if self.path == ":memory:":
            base = os.path.join(os.getcwd(), ".medviz", "memory")
        else:
            stem, _ = os.path.splitext(os.path.abspath(self.path))
            base = stem + "_files"
        os.makedirs(base, exist_ok=True)
        return base

    def image_file(self, image_path: str | None) -> str | None:
        """The file an item's ``image_path`` names (relative paths are under ``files_dir``)."""
        from .imagefiles import resolve
        return resolve(self.files_dir, image_path)

    def _recover_files(self) -> None:
        """Remove what a killed ingest left in the files folder (see ``store.imagefiles``)."""
        if self.path == ":memory:":
            return
        stem, _ = os.path.splitext(os.path.abspath(self.path))
        if os.path.isdir(os.path.join(stem + "_files", "images")):
            from .imagefiles import recover
            recover(self.cursor(), stem + "_files")

    # --- schema -----------------------------------------------------------------------------------------
    def migrate(self) -> None:
        """Apply pending migrations. A store already migrated by these very schema modules (same files: the
        stamp in ``schema_code``) is not checked again, so opening it imports no schema module (and so no
        pandas / pyarrow / numpy): start-up stays at DuckDB's own cost."""
        cur = self.cursor()
        stamp = _code_stamp()
        try:
            have = first_row(cur.execute("SELECT stamp FROM schema_code"))
        except duckdb.CatalogException:
            have = None
        if have is not None and have[0] == stamp:
            return
        cur.execute("CREATE TABLE IF NOT EXISTS schema_version (component VARCHAR PRIMARY KEY, version INTEGER)")
        for component, module in COMPONENTS.items():
            steps = importlib.import_module(module).MIGRATIONS
            row = first_row(cur.execute("SELECT version FROM schema_version WHERE component = ?", [component]))
            have = row[0] if row else 0
            for version in range(have, len(steps)):
                with self.transaction() as tx:
                    step = steps[version]
                    if callable(step):
                        step(tx)
                    else:
                        for stmt in [s for s in step.split(";") if s.strip()]:
                            tx.execute(stmt)
                    tx.execute("DELETE FROM schema_version WHERE component = ?", [component])
                    tx.execute("INSERT INTO schema_version VALUES (?, ?)", [component, version + 1])
        with self.transaction() as tx:
            tx.execute("CREATE TABLE IF NOT EXISTS schema_code (stamp VARCHAR)")
            tx.execute("DELETE FROM schema_code")
            tx.execute("INSERT INTO schema_code VALUES (?)", [stamp])

    def schema_versions(self) -> dict[str, int]:
        return dict(self.cursor().execute("SELECT component, version FROM schema_version").fetchall())
