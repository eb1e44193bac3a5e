"""Image files kept beside the database, content-addressed: ``<files>/images/<sha256[:2]>/<sha256>.<ext>``.

A file's name is its content's SHA-256, so a file in place never changes: an ingest adds files and the row
COMMIT is the only switch from old items to new ones (old rows keep pointing at their own, untouched
bytes). Item rows store the path relative to the files folder, so a database moved with its folder works.

One ingest's new files are written to ``images/.staging-<uuid>/`` and moved into place just before the
COMMIT. The staging folder keeps a journal (``journal.txt``) of every path the ingest moved into place and
of the files its replaced benchmark used. Whatever happens next (commit, rollback, ``kill -9``) the cleanup
is the same: delete each journalled file that no committed row references, then the staging folder. It
runs when the ingest ends and, for an ingest that was killed, the next time the store is opened.
"""
from __future__ import annotations

import os
import shutil
import uuid

STAGING_PREFIX = ".staging-"
JOURNAL = "journal.txt"


def relative_path(sha256: str, fmt: str) -> str:
    from ..images import EXT     # PIL is imported only by code that handles images
    return f"images/{sha256[:2]}/{sha256}{EXT[fmt]}"


def resolve(files_dir: str, path: str | None) -> str | None:
    """The file an item's ``image_path`` names: relative paths are under the store's files folder."""
    if not path:
        return None
    return path if os.path.isabs(path) else os.path.join(files_dir, path)


class ImageSink:
    """The new image files of one ingest (see the module docstring for the protocol)."""

    def __init__(self, files_dir: str):
        self.files_dir = files_dir
        self.staging = os.path.join(files_dir, "images", f"{STAGING_PREFIX}{uuid.uuid4().hex}")
        os.makedirs(self.staging)
        self._staged: dict[str, str] = {}       # relative final path -> staged file
        self._journal = open(os.path.join(self.staging, JOURNAL), "a", encoding="utf-8")

    def put(self, data: bytes, sha256: str, fmt: str) -> str:
        """Stage one image (once per content); returns the relative path the item row records."""
        rel = relative_path(sha256, fmt)
        if rel in self._staged or os.path.exists(os.path.join(self.files_dir, rel)):
            return rel
        staged = os.path.join(self.staging, os.path.basename(rel))
        with open(staged, "wb") as f:
            f.write(data)
        self._staged[rel] = staged
        return rel

    def will_replace(self, paths) -> None:
        """Journal the files a replaced benchmark used: after the switch, those no row uses are deleted."""
        self._write_journal([p for p in paths if _ours(self.files_dir, p)])

    def publish(self) -> None:
        """Move staged files into place (inside the transaction, just before COMMIT)."""
        self._write_journal(list(self._staged))
        for rel, staged in self._staged.items():
            final = os.path.join(self.files_dir, rel)
            os.makedirs(os.path.dirname(final), exist_ok=True)
            os.replace(staged, final)
        self._staged.clear()

    def finish(self, cur) -> None:
        """After COMMIT or ROLLBACK: delete journalled files no row references, then the staging folder."""
        self._journal.close()
        cleanup_staging(cur, self.files_dir, self.staging)

    def _write_journal(self, paths: list[str]) -> None:
        if paths:
            self._journal.write("".join(p + "\n" for p in paths))
            self._journal.flush()
            os.fsync(self._journal.fileno())


def _ours(files_dir: str, path: str | None) -> bool:
    """Only files under our images folder are ever deleted (never a user's images folder)."""
    if not path:
        return False
    full = os.path.normpath(resolve(files_dir, path))
    return full.startswith(os.path.join(os.path.normpath(files_dir), "images") + os.sep)


def referenced(cur, paths: list[str]) -> set[str]:
    if not paths:
        return set()
    rows = cur.execute("SELECT DISTINCT image_path FROM items WHERE list_contains(?, image_path)",
                       [paths]).fetchall()
    return {r[0] for r in rows}


def cleanup_staging(cur, files_dir: str, staging: str) -> int:
    """Delete the journalled files that no item row references, then ``staging``; returns files deleted."""
    journal = os.path.join(staging, JOURNAL)
    paths: list[str] = []
    if os.path.exists(journal):
        with open(journal, encoding="utf-8", errors="replace") as f:
            paths = sorted({line.rstrip("\n") for line in f if line.strip()})
    keep = referenced(cur, paths)
    deleted = 0
    for p in paths:
        if p in keep or not _ours(files_dir, p):
            continue
        try:
            os.remove(resolve(files_dir, p))
            deleted += 1
        except FileNotFoundError:
            pass
    shutil.rmtree(staging, ignore_errors=True)
    return deleted


def recover(cur, files_dir: str) -> int:
    """Clean up after ingests that were killed: every staging folder present when the store opens is stale
    (one process owns the database file, and it has only just opened it). Returns files deleted."""
    base = os.path.join(files_dir, "images")
    if not os.path.isdir(base):
        return 0
    deleted = 0
    for name in os.listdir(base):
        if name.startswith(STAGING_PREFIX):
            deleted += cleanup_staging(cur, files_dir, os.path.join(base, name))
    return deleted
