"""``/api/imports`` in-process (SQLite and Postgres): a ChatGPT export uploaded is imported in
the background (202, then queued/running/done with progress and the summary), its
conversations listed by ``/api/conversations``; the same export again creates nothing new; a
bad upload fails with a clear error and leaves every table but the job's as it was; the
spooled upload is removed either way. Strangers: the ownership matrix."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request

from causerie.api.upload_stream import spool_upload
from causerie.errors import InvalidRequestError, PayloadTooLargeError
from causerie.storage import Database
from tests.archive.chatgpt_factory import bulk_conversations, export_zip, rich_conversation
from tests.chat.imports import ASSETS, row_counts
from tests.inprocess import InProcess

pytestmark = pytest.mark.anyio


def spooled() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("causerie-import-*"))


async def upload(rest: httpx.AsyncClient, name: str, data: bytes) -> dict[str, Any]:
    response = await rest.post("/api/imports", files={"file": (name, data)})
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    assert job["object"] == "import" and job["state"] in ("queued", "running", "done", "failed")
    return job


async def finished(rest: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    states = []
    for _ in range(1200):
        response = await rest.get(f"/api/imports/{job_id}")
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        states.append(job["state"])
        if job["state"] in ("done", "failed"):
            assert job["finished_at"] is not None
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"the import never ended: {states[-5:]}")


def without_jobs(counts: dict[str, int]) -> dict[str, int]:
    return {table: count for table, count in counts.items() if table != "import_jobs"}


async def test_an_export_is_imported_in_the_background_and_again_adds_nothing(
    rest: httpx.AsyncClient, db: Database
) -> None:
    tag = uuid.uuid4().hex[:8]
    broken = {"conversation_id": f"broken-{tag}", "title": "Folder entry"}
    items = [rich_conversation(f"rich-{tag}"), broken, *bulk_conversations(2, 6, seed=hash(tag))]
    data = export_zip(items, layout="sharded", assets=ASSETS, shard_size=2)
    before = without_jobs(row_counts(db))

    job = await finished(rest, (await upload(rest, "../my export.zip", data))["id"])
    assert job["state"] == "done" and job["error"] is None, job
    assert job["filename"] == "my export.zip"  # never a path
    assert job["progress"] == {"done": 4, "total": 4}
    summary = job["summary"]
    assert (summary["source"], summary["total"], summary["created"], summary["imported"]) == (
        "chatgpt",
        4,
        3,
        3,
    )
    (skipped,) = summary["skipped"]
    assert skipped["external_id"] == f"broken-{tag}" and "mapping" in skipped["reason"]
    assert summary["custom_instructions"]  # found, offered, never made a message
    assert summary["attachments_stored"] == 1 and summary["attachments_missing"] >= 1
    assert summary["hidden"] > 0 and summary["messages"] > 0
    after = without_jobs(row_counts(db))
    assert after["conversations"] == before["conversations"] + 3
    listed = (await rest.get("/api/conversations", params={"limit": 100})).json()["data"]
    assert "Rich conversation" in [c["title"] for c in listed if c["source"] == "import"]
    assert not spooled()  # the upload is removed once imported

    again = await finished(rest, (await upload(rest, "export.zip", data))["id"])
    assert again["state"] == "done", again
    assert (again["summary"]["created"], again["summary"]["updated"]) == (0, 0)
    assert again["summary"]["unchanged"] == 3 and again["summary"]["messages"] == 0
    assert without_jobs(row_counts(db)) == after  # nothing new
    assert again["id"] != job["id"]
    assert (await rest.get(f"/api/imports/{job['id']}")).json()["state"] == "done"


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"this is not a zip, nor JSON", "neither a zip nor a JSON list"),
        (b"PK\x03\x04 truncated", "zip"),
        (export_zip([], layout="none"), "no conversations.json"),
        (b'[{"unknown": 1}]', "not in a format Causerie reads"),
    ],
)
async def test_a_bad_upload_fails_clearly_and_changes_nothing(
    rest: httpx.AsyncClient, db: Database, data: bytes, says: str
) -> None:
    before = without_jobs(row_counts(db))
    job = await finished(rest, (await upload(rest, "export.zip", data))["id"])
    assert job["state"] == "failed" and job["summary"] is None, job
    assert says in job["error"] and "Nothing was imported." in job["error"]
    assert without_jobs(row_counts(db)) == before
    assert not spooled()


async def test_requests_that_are_refused(rest: httpx.AsyncClient) -> None:
    missing = await rest.post("/api/imports", data={"nothing": "here"})
    assert missing.status_code == 400 and missing.json()["error"]["type"] == "invalid_request_error"
    unknown = await rest.get("/api/imports/no-such-import")
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "not_found_error"


def multipart_request(files: dict[str, Any], piece: int = 777) -> Request:
    """A request whose multipart body arrives ``piece`` bytes at a time."""
    built = httpx.Request("POST", "http://localhost/api/imports", files=files)
    body = built.read()
    pieces = [body[start : start + piece] for start in range(0, len(body), piece)]

    async def receive() -> dict[str, Any]:
        chunk = pieces.pop(0) if pieces else b""
        return {"type": "http.request", "body": chunk, "more_body": bool(pieces)}

    headers = [(b"content-type", built.headers["content-type"].encode())]
    return Request({"type": "http", "method": "POST", "path": "/", "headers": headers}, receive)


async def test_the_spooled_upload_is_private_and_capped() -> None:
    data = bytes(range(256)) * 20 + b"\r\n--not-the-boundary\r\n" * 3
    files = {"note": (None, "before"), "file": ("export.zip", data)}
    upload = await spool_upload(multipart_request(files), "file", len(data))
    try:
        assert upload.path.read_bytes() == data and upload.filename == "export.zip"
        assert upload.path.stat().st_mode & 0o077 == 0  # the owner's alone
    finally:
        upload.path.unlink()
    with pytest.raises(PayloadTooLargeError, match=f"{len(data) - 1} bytes"):
        await spool_upload(multipart_request(files), "file", len(data) - 1)
    with pytest.raises(InvalidRequestError, match="no field 'file'"):
        await spool_upload(multipart_request({"other": ("a.zip", b"x")}), "file", 100)
    assert not spooled()  # the part written is removed


async def test_an_export_may_be_larger_than_other_requests_up_to_its_own_limit(
    app: InProcess, rest: httpx.AsyncClient, db: Database
) -> None:
    """The 4 MiB request limit does not apply to an export (its own is
    ``CAUSERIE_MAX_IMPORT_BYTES``); past that one, 413 with no job and no file left."""
    big = b"PK\x03\x04" + b"0" * (5 * 1024 * 1024)
    job = await finished(rest, (await upload(rest, "big.zip", big))["id"])
    assert job["state"] == "failed" and "zip" in job["error"]
    settings = app.services.settings
    saved = settings.max_import_bytes
    settings.max_import_bytes = 4096
    try:
        jobs = row_counts(db)["import_jobs"]
        refused = await rest.post("/api/imports", files={"file": ("e.zip", b"x" * 5000)})
        assert refused.status_code == 413, refused.text
        assert refused.json()["error"]["code"] == "request_too_large"
        assert "4096 bytes" in refused.json()["error"]["message"]
        assert row_counts(db)["import_jobs"] == jobs and not spooled()
    finally:
        settings.max_import_bytes = saved
