"""The exact requests a real Open WebUI 0.12.4 sent to Causerie's ``/v1`` (recorded through a
proxy in front of a real server, ``tests/api/data/openwebui/NNN.json``: method, path, headers
without the key, body, and what that older Causerie answered), replayed against the real app:
each gets a 200 and a sensible reply. Among them: a chat with an image attached (answered with
a note in the image's place, ``CAUSERIE_DROP_UNSUPPORTED_PARTS``), tool definitions, and the
background requests for titles, tags and follow-ups that set no ``max_tokens``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.inprocess import InProcess, sqlite_app_with

pytestmark = pytest.mark.anyio

RECORDED = sorted((Path(__file__).parent / "data" / "openwebui").glob("*.json"))
MODEL = "gemma-3-270m-q4_k_m"
CAP = 32  # the replaying server's reply cap for requests that set none
# One user message alone longer than the 4,096-token context (the long chat's last question and
# a background task quoting it): nothing can be left out, the answer is a clear 400.
ALONE_TOO_LONG = {"013", "014"}


@pytest.fixture(scope="module")
def replaying(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[InProcess]:
    yield from sqlite_app_with(
        tmp_path_factory.mktemp("owui-replay"),
        model_dir,
        drop_unsupported_parts=True,
        api_default_max_tokens=CAP,
    )


def events(text: str) -> list[dict[str, Any]]:
    """The JSON chunks of a Server-Sent Events answer, which must end with ``[DONE]``."""
    data = [line.removeprefix("data: ") for line in text.splitlines() if line.startswith("data: ")]
    assert data and data[-1] == "[DONE]", text[-300:]
    return [json.loads(item) for item in data[:-1]]


def test_the_recordings_hold_what_open_webui_broke_on() -> None:
    bodies = [json.loads(path.read_text())["body"] or {} for path in RECORDED]
    parts = [
        part["type"]
        for body in bodies
        for message in body.get("messages", [])
        if isinstance(message["content"], list)
        for part in message["content"]
    ]
    assert "image_url" in parts
    assert any("messages" in body and "max_tokens" not in body for body in bodies)


@pytest.mark.parametrize("path", RECORDED, ids=[path.stem for path in RECORDED])
async def test_a_recorded_request_gets_a_sensible_answer(replaying: InProcess, path: Path) -> None:
    recorded = json.loads(path.read_text())
    async with replaying.http(timeout=300) as http:
        answer = await http.request(recorded["method"], recorded["path"], json=recorded["body"])
    if path.stem in ALONE_TOO_LONG:
        assert len(recorded["body"]["messages"]) == 1
        error = answer.json()["error"]
        assert answer.status_code == 400 and error["code"] == "context_length_exceeded"
        assert error["param"] == "messages"
        return
    assert answer.status_code == 200, answer.text
    body = recorded["body"] or {}
    if recorded["path"] == "/v1/models":
        listed = [model["id"] for model in answer.json()["data"]]
        assert MODEL in listed and "default" in listed
        return
    if body.get("stream"):
        chunks = events(answer.text)
        text = "".join(
            c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]
        )
        reasons = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
        finish = next(reason for reason in reversed(reasons) if reason)
    else:
        choice = answer.json()["choices"][0]
        text, finish = choice["message"]["content"] or "", choice["finish_reason"]
        if "max_tokens" not in body:  # a background request: the server's cap holds it
            assert answer.json()["usage"]["completion_tokens"] <= CAP
    assert finish in ("stop", "length")
    assert text.strip() or finish == "stop"  # the small model may end a title at once
