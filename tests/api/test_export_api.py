"""``GET /api/export`` in-process (SQLite and Postgres): the local user's whole archive as a
streamed zip that matches the shipped schema and that the importer reads back; listed in the
OpenAPI document. Strangers: the ownership matrix (tests/auth/test_ownership.py)."""

from __future__ import annotations

import io
import zipfile

import httpx
import pytest

from causerie.storage import Database
from causerie.types import LOCAL_OWNER
from tests.archive.chatgpt_factory import export_zip, rich_conversation
from tests.chat.archives import import_archive, members, validate
from tests.chat.imports import ASSETS, conversation_of, import_bytes

pytestmark = pytest.mark.anyio


async def test_the_export_streams_the_whole_account_as_an_archive(
    rest: httpx.AsyncClient, db: Database
) -> None:
    chat = rich_conversation()
    import_bytes(db, export_zip([chat], assets=ASSETS))
    conversation = conversation_of(db, "conv-rich", LOCAL_OWNER)
    async with rest.stream("GET", "/api/export") as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/zip"
        assert response.headers["content-disposition"].startswith(
            'attachment; filename="causerie-local-'
        )
        chunks = [chunk async for chunk in response.aiter_raw()]
    data = b"".join(chunks)
    validate(data)
    found = members(data)
    assert f"conversations/{conversation.id}.json" in found
    document = found[f"conversations/{conversation.id}.json"]
    assert document["imported_from"]["external_id"] == "conv-rich"
    assert any(name.startswith("attachments/") for name in found)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
    # read back into another owner of the same database: a copy, nothing refused
    summary = import_archive(db, data, "export-api-copy")
    assert summary.created >= 1 and not summary.skipped


async def test_the_export_is_in_the_openapi_document(rest: httpx.AsyncClient) -> None:
    document = (await rest.get("/openapi.json")).json()
    operation = document["paths"]["/api/export"]["get"]
    assert "application/zip" in operation["responses"]["200"]["content"]
