"""The one exception type meant for people.

Anything raised as ``MedvizError`` carries a message a user can act on (which file, which record, which
field, what to do). The CLI and the app catch this type and show the message; any other exception is a bug.
"""
from __future__ import annotations


MAX_MESSAGE = 2000     # characters: a message quoting a whole input (a 630 MB cell) is cut here


def _cap(text, limit: int) -> str | None:
    if text is None:
        return None
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


class MedvizError(Exception):
    def __init__(self, message: str, *, file: str | None = None, record: str | None = None,
                 field: str | None = None):
        message = _cap(message, MAX_MESSAGE)
        file, record, field = _cap(file, 500), _cap(record, 200), _cap(field, 200)
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
