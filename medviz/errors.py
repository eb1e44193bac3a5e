"""The one exception type meant for people.

Anything raised as ``MedvizError`` carries a message a user can act on (which file, which record, which
field, what to do). The CLI and the app catch this type and show the message; any other exception is a bug.
"""
from __future__ import annotations


class MedvizError(Exception):
    def __init__(self, message: str, *, file: str | None = None, record: str | None = None,
                 field: str | None = None):
        self.file, self.record, self.field = file, record, field
        where = []
        if file:
            where.append(f"file {file}")
        if record is not None:
            where.append(f"record {record}")
        if field:
            where.append(f"field '{field}'")
        self.detail = message
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class DatabaseInUse(MedvizError):
    """Another process holds the DuckDB file lock."""
