"""``POST /api/imports`` checks its caller before it reads the body: an anonymous upload is
refused (401) without the server taking in, let alone writing to disk, more than its first
piece; the body of an accepted one is read once, straight into the private file."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.inprocess import InProcess

pytestmark = pytest.mark.anyio

PIECE = 1024 * 1024
PIECES = 64


def temporary_files() -> set[Path]:
    return set(Path(tempfile.gettempdir()).iterdir())


async def test_an_anonymous_upload_is_refused_before_its_body_is_read(
    app: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.services.gate, "_multi_user", True)  # accounts exist: sign in
    sent: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        yield b'--cut\r\nContent-Disposition: form-data; name="file"; filename="e.zip"\r\n\r\n'
        for _ in range(PIECES):
            sent.append(PIECE)
            yield b"\0" * PIECE
        yield b"\r\n--cut--\r\n"

    before = temporary_files()
    async with app.http(timeout=60) as client:
        response = await client.post(
            "/api/imports",
            content=body(),
            headers={"Content-Type": "multipart/form-data; boundary=cut"},
        )
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "missing_api_key"
    assert len(sent) <= 1  # the 64 MiB were never asked for
    assert temporary_files() <= before  # nothing spooled to disk


async def test_an_upload_that_is_not_multipart_is_a_400(app: InProcess) -> None:
    async with app.http(timeout=60, headers={"Authorization": "Bearer sk-any"}) as client:
        response = await client.post(
            "/api/imports", content=b"[]", headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 400 and "multipart/form-data" in response.text


async def test_a_part_with_endless_headers_is_a_400_and_leaves_nothing(app: InProcess) -> None:
    body = b'--cut\r\nContent-Disposition: form-data; name="file"; filename="' + b"x" * PIECE
    before = temporary_files()
    async with app.http(timeout=60, headers={"Authorization": "Bearer sk-any"}) as client:
        response = await client.post(
            "/api/imports",
            content=body,
            headers={"Content-Type": "multipart/form-data; boundary=cut"},
        )
    assert response.status_code == 400 and "multipart body is malformed" in response.text
    assert temporary_files() <= before
