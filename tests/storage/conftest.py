"""A fresh, migrated database for each storage test: SQLite, then Postgres."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from causerie.storage import Database
from tests.conftest import create_pg_database


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = create_pg_database(
            request.getfixturevalue("postgres_server"), f"s_{uuid.uuid4().hex}"
        )
    migrated = Database(url)
    migrated.migrate()
    yield migrated
    migrated.dispose()
