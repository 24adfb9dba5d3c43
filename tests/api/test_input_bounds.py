"""A request with too much in it is refused before tokenizing, and the server stays responsive
while a large one is tokenized (it used to block every other request for up to minutes)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest

from causerie.storage import MessageDraft
from tests.conftest import Server, sqlite_server_with
from tests.helpers import page_client, store_for

URL = "/v1/chat/completions"


def post(server: Server, messages: list[dict[str, str]]) -> httpx.Response:
    body = json.dumps({"model": "default", "messages": messages, "max_tokens": 1})
    headers = {"content-type": "application/json"}
    return httpx.post(f"{server.url}{URL}", content=body, headers=headers, timeout=120)


def test_too_many_messages_is_a_400_before_any_tokenizing(sqlite_server: Server) -> None:
    messages = [{"role": "user", "content": "x"}] * 100_000  # 3 MB, under the body limit
    started = time.monotonic()
    response = post(sqlite_server, messages)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "messages" and "Too many messages: 100000" in error["message"]
    assert time.monotonic() - started < 30  # it took 280 s, the whole server frozen


def test_too_many_characters_is_a_400(sqlite_server: Server) -> None:
    messages = [{"role": "user", "content": "word " * 250_000}]  # 1.25 million characters
    response = post(sqlite_server, messages)
    assert response.status_code == 400
    assert "1250000 characters" in response.json()["error"]["message"]


def test_health_answers_while_a_long_history_is_tokenized(sqlite_server: Server) -> None:
    turns = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}\n" * 30}
        for i in range(2000)  # 60,000 lines: over the context, within the bounds
    ]
    answer: list[httpx.Response] = []
    worker = threading.Thread(target=lambda: answer.append(post(sqlite_server, turns)))
    worker.start()
    slowest = 0.0
    while worker.is_alive():
        started = time.monotonic()
        assert httpx.get(f"{sqlite_server.url}/health", timeout=30).status_code == 200
        slowest = max(slowest, time.monotonic() - started)
        time.sleep(0.02)
    worker.join()
    assert answer[0].status_code == 400
    assert answer[0].json()["error"]["code"] == "context_length_exceeded"
    assert slowest < 2.0, slowest


@pytest.mark.slow  # a server of its own
def test_a_stored_conversation_longer_than_the_bound_is_fitted_not_refused(
    tmp_path: Path, model_dir: Path
) -> None:
    for server in sqlite_server_with(tmp_path, model_dir, CAUSERIE_MAX_MESSAGES="3"):
        database, store = store_for(server)
        conversation = store.create(title="Long")
        drafts = [
            MessageDraft("user" if i % 2 == 0 else "assistant", f"turn {i}") for i in range(6)
        ]
        store.append(conversation, None, drafts)
        database.dispose()
        with page_client(server.url) as page:
            reply = page.post(
                "/c/send",
                json={"conversation_id": conversation, "content": "Hi", "max_tokens": 2},
            )
        assert "event: done" in reply.text  # 7 messages in the prompt, 1 brought by this turn
        too_many = post(server, [{"role": "user", "content": "x"}] * 4)  # the API brings them all
        assert too_many.status_code == 400
