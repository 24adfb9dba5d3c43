"""Fixtures of the REST routes' tests (``/api/...``): the app's own database beside it, and
an API client of the local user (the in-process app has no accounts: any key is theirs)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from causerie.storage import Database
from tests.inprocess import InProcess


@pytest.fixture
def db(app: InProcess) -> Iterator[Database]:
    database = Database(app.database_url)
    yield database
    database.dispose()


@pytest.fixture
async def rest(app: InProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with app.http(timeout=60, headers={"Authorization": "Bearer sk-any"}) as client:
        yield client
