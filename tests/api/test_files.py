"""``/api/files`` on the app in-process (SQLite and Postgres): an upload is answered at once and
read in the background; list, status, download and delete; bad uploads get clear errors."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from causerie.storage import ConversationStore, Database
from tests.inprocess import InProcess
from tests.retrieval.files import pdf_of

pytestmark = pytest.mark.anyio


async def upload(http: httpx.AsyncClient, name: str, data: bytes, **form: str) -> httpx.Response:
    return await http.post("/api/files", files={"file": (name, data)}, data=form)


async def until_read(http: httpx.AsyncClient, file_id: str) -> dict[str, object]:
    """The file once its reading and embedding have ended."""
    for _ in range(400):
        body: dict[str, object] = (await http.get(f"/api/files/{file_id}")).json()
        if body["status"] not in ("pending", "extracting", "searchable", "embedding"):
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"{file_id} was still being read: {body}")


async def test_an_upload_is_answered_at_once_and_read_in_the_background(app: InProcess) -> None:
    canary = f"canary-{uuid.uuid4().hex[:8]}"
    pages = [f"The lighthouse log mentions {canary}.", "The tide tables of Brest."]
    async with app.http(timeout=60) as http:
        data = pdf_of(pages)  # fpdf2 dates each PDF it writes: keep this one's bytes
        answer = await upload(http, "../../atlas.pdf", data)
        assert answer.status_code == 202, answer.text
        created = answer.json()
        assert created["object"] == "file" and created["filename"] == "atlas.pdf"
        assert created["status"] == "pending" and created["kind"] == "pdf"
        read = await until_read(http, created["id"])
        assert (read["status"], read["pages"]) == ("ready", 2)
        assert read["embedded"] == read["passages"] == 2

        listed = (await http.get("/api/files")).json()
        assert listed["object"] == "list" and created["id"] in [f["id"] for f in listed["data"]]
        download = await http.get(f"/api/files/{created['id']}/content")
        assert download.content == data
        assert download.headers["content-type"] == "application/octet-stream"
        assert download.headers["content-disposition"].startswith("attachment;")

        deleted = await http.delete(f"/api/files/{created['id']}")
        assert deleted.json() == {"id": created["id"], "object": "file", "deleted": True}
        gone = await http.get(f"/api/files/{created['id']}")
        assert gone.status_code == 404 and gone.json()["error"]["type"] == "not_found_error"


async def test_a_scan_and_a_broken_file_say_why_they_have_no_text(app: InProcess) -> None:
    async with app.http(timeout=60) as http:
        scan = (await upload(http, "scan.pdf", pdf_of(["", ""]))).json()
        broken = (await upload(http, "memo.docx", b"PK\x03\x04" + uuid.uuid4().bytes)).json()
        assert (await until_read(http, scan["id"]))["status"] == "no_text"
        failed = await until_read(http, broken["id"])
        assert failed["status"] == "failed" and "not a valid DOCX" in str(failed["status_details"])


async def test_files_attach_to_ones_own_conversation_only(app: InProcess) -> None:
    database = Database(app.database_url)
    try:
        chat = ConversationStore(database).create(title="with a file")
    finally:
        database.dispose()
    async with app.http(timeout=60) as http:
        attached = await upload(http, "notes.md", b"# Notes\n\nbring a lamp", conversation_id=chat)
        assert attached.status_code == 202 and attached.json()["conversation_id"] == chat
        listed = (await http.get("/api/files", params={"conversation_id": chat})).json()
        assert [f["id"] for f in listed["data"]] == [attached.json()["id"]]
        unknown = await upload(http, "notes.md", b"text", conversation_id=str(uuid.uuid4()))
        assert unknown.status_code == 404


async def test_bad_uploads_get_clear_errors(app: InProcess) -> None:
    async with app.http(timeout=60) as http:
        image = await upload(http, "photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00")
        assert image.status_code == 400
        assert image.json()["error"]["code"] == "unsupported_file"
        assert "'photo.jpg'" in image.json()["error"]["message"]
        missing = await http.post("/api/files", data={"conversation_id": "x"})
        assert missing.status_code == 400 and "error" in missing.json()
        assert (await http.get("/api/files/nope")).status_code == 404
        assert (await http.delete("/api/files/nope")).status_code == 404


async def test_an_upload_may_be_larger_than_other_requests(app: InProcess) -> None:
    """The API's 4 MiB request limit does not apply to uploads (they have their own, 50 MiB);
    a chat request that large is still refused."""
    big = b"%PDF-1.7\n" + b"0" * (5 * 1024 * 1024)  # over 4 MiB; not a PDF PDFium can open
    async with app.http(timeout=60) as http:
        answer = await upload(http, "big.pdf", big)
        assert answer.status_code == 202, answer.text
        failed = await until_read(http, answer.json()["id"])
        assert failed["status"] == "failed" and "could not be read as a PDF" in str(
            failed["status_details"]
        )
        chat = await http.post("/v1/chat/completions", content=b"{" + b" " * len(big) + b"}")
        assert chat.status_code == 413


async def test_a_user_and_a_project_hold_a_limited_number_of_files(app: InProcess) -> None:
    """One file beyond ``max_files_per_chat`` (a conversation's or a project's) or beyond
    ``max_files_per_user`` is refused with 400 ``too_many_files``, and nothing is stored."""
    settings = app.services.settings
    saved = settings.max_files_per_user, settings.max_files_per_chat
    try:
        async with app.http(timeout=60) as http:
            project = (await http.post("/api/projects", json={"name": "Limits"})).json()["id"]
            settings.max_files_per_chat = 2
            for number in range(2):
                note = f"note {number} {uuid.uuid4()}".encode()
                kept = await upload(http, f"n{number}.txt", note, project_id=project)
                assert kept.status_code == 202, kept.text
            refused = await upload(http, "n2.txt", b"one too many", project_id=project)
            assert refused.status_code == 400
            assert refused.json()["error"]["code"] == "too_many_files"
            assert "This project holds 2 files" in refused.json()["error"]["message"]
            assert (await http.get(f"/api/projects/{project}")).json()["files"] == 2

            held = len((await http.get("/api/files")).json()["data"])
            settings.max_files_per_user = held
            refused = await upload(http, "loose.txt", b"loose")
            assert refused.status_code == 400
            assert refused.json()["error"]["code"] == "too_many_files"
            assert len((await http.get("/api/files")).json()["data"]) == held
            await http.delete(f"/api/projects/{project}")
    finally:
        settings.max_files_per_user, settings.max_files_per_chat = saved
