"""Fixtures for the server tests: a copy of the sample store per test, and a running server on it."""
from __future__ import annotations

import pytest

from .harness import Server, copy_store


@pytest.fixture
def server_db(sample_store_file, tmp_path):
    return copy_store(sample_store_file, str(tmp_path / "served.duckdb"))


@pytest.fixture
def server(server_db):
    with Server(server_db) as s:
        yield s
