"""The engine in its own process: kill -9 it mid-stream with other streams running.

The server stays up, the streams it held end with an error event, /ready says 503 until the
engine is back, a new request then succeeds, and nothing stored is damaged.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import Server, sqlite_server_with
from tests.helpers import client_for, store_for

LONG = [{"role": "user", "content": "Tell me a very long story about a dragon and a knight."}]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[Server]:
    yield from sqlite_server_with(tmp_path_factory.mktemp("engine-process"), model_dir)


def ready(server: Server) -> httpx.Response:
    return httpx.get(f"{server.url}/ready", timeout=30)


def stream_until_error(server: Server, chunks: list[str], errors: list[Exception]) -> None:
    with client_for(server) as client:
        try:
            stream = client.chat.completions.create(
                model="default", messages=LONG, max_tokens=400, temperature=0, stream=True
            )
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    chunks.append(chunk.choices[0].delta.content)
        except openai.APIError as exc:
            errors.append(exc)


def test_killing_the_engine_mid_stream_spares_the_server(server: Server) -> None:
    with client_for(server) as client:
        kept = client.chat.completions.create(
            model="default", messages=[{"role": "user", "content": "Hi"}], max_tokens=8
        )
    database, store = store_for(server)
    before = {c.id: [m.content for m in store.branch(c.id)] for c in store.list_recent(500)}
    engine = ready(server).json()["engine"]
    assert engine["running"] and engine["pid"] != server.process.pid  # type: ignore[union-attr]

    outputs: list[list[str]] = [[] for _ in range(3)]
    errors: list[Exception] = []
    threads = [
        threading.Thread(target=stream_until_error, args=(server, out, errors)) for out in outputs
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while not all(len(out) >= 3 for out in outputs) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(len(out) >= 3 for out in outputs), "the streams did not start"

    os.kill(engine["pid"], signal.SIGKILL)
    assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200  # server lives
    for thread in threads:
        thread.join(timeout=60)
    assert len(errors) == 3  # every stream it held ends with an error event
    assert all("engine" in str(error) for error in errors)
    assert httpx.get(f"{server.url}/", timeout=30).status_code == 200  # the pages still work

    deadline = time.monotonic() + 60
    while ready(server).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    back = ready(server).json()["engine"]
    assert back["running"] and back["restarts"] == 1 and back["pid"] != engine["pid"]
    with client_for(server) as client:
        again = client.chat.completions.create(
            model="default", messages=[{"role": "user", "content": "Hello again"}], max_tokens=8
        )
    assert again.choices[0].message.content is not None and kept.choices

    after = {c.id: [m.content for m in store.branch(c.id)] for c in store.list_recent(500)}
    database.dispose()
    for conversation, contents in before.items():
        assert after[conversation] == contents  # nothing stored before was touched
    log = server.log_path.read_text()  # type: ignore[union-attr]
    assert "the engine process died by SIGKILL; it held 3 request(s)" in log


def test_a_request_while_the_engine_restarts_is_a_503_with_retry_after(server: Server) -> None:
    engine = ready(server).json()["engine"]
    os.kill(engine["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while ready(server).status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.01)
    body = {"model": "default", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
    refused = httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=30)
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "engine_unavailable"
    # the second crash within a minute of a restart: the back-off doubled, 1 s -> 2 s
    assert refused.headers["retry-after"] == "2"
    deadline = time.monotonic() + 60
    while ready(server).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ready(server).json()["engine"]["restarts"] == 2
    assert "restarting in 2 s" in server.log_path.read_text()  # type: ignore[union-attr]
