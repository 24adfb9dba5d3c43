"""What the API stores: hash-chained histories, `store: false`, restarts, disconnects."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from causerie.storage import Database
from tests.conftest import Server, create_pg_database
from tests.helpers import client_for, long_reply_messages, long_stream_body, store_for

pytestmark = pytest.mark.slow  # servers of its own (conftest.py: two tiers)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def own_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, model_dir: Path
) -> Iterator[Server]:
    """A server of this module's own (its tests restart it and kill it), on SQLite or Postgres."""
    tmp_path = tmp_path_factory.mktemp(f"own-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'own.db'}"
    else:
        url = create_pg_database(
            request.getfixturevalue("postgres_server"), f"own_{uuid.uuid4().hex}"
        )
    server = Server(database_url=url, data_dir=tmp_path, model_dir=model_dir)
    server.start()
    yield server
    server.stop()


LONG_STREAM = long_stream_body(1500)


def conversation_id(raw: object) -> str:
    value = raw.headers["x-causerie-conversation-id"]  # type: ignore[attr-defined]
    assert value
    return str(value)


def test_resent_history_adds_only_new_rows_and_survives_restart(own_server: Server) -> None:
    openai_client = client_for(own_server)
    client = openai_client.chat.completions.with_raw_response
    database, store = store_for(own_server)
    history = [
        {"role": "system", "content": "You are brief."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    raw = client.create(model="default", messages=history, max_tokens=16, temperature=0)
    first = conversation_id(raw)
    reply = raw.parse().choices[0].message.content
    assert store.count_messages(first) == 3  # system, user, assistant

    database.dispose()
    own_server.restart()
    database, store = store_for(own_server)

    history += [
        {"role": "assistant", "content": reply},
        {"role": "user", "content": "And of Italy?"},
    ]
    raw = client.create(model="default", messages=history, max_tokens=16, temperature=0)
    assert conversation_id(raw) == first
    assert store.count_messages(first) == 5  # only the new question and its answer
    assert store.count_messages() == 5
    branch = store.branch(first)
    assert [m.role for m in branch] == ["system", "user", "assistant", "user", "assistant"]
    assert branch[2].content == reply
    assert branch[-1].content == raw.parse().choices[0].message.content
    assert branch[-1].status == "complete" and branch[-1].completion_tokens > 0
    database.dispose()
    openai_client.close()  # its pooled connection went stale with the restart


def test_shared_system_prompt_does_not_merge_conversations(server: Server) -> None:
    client = client_for(server).chat.completions.with_raw_response
    system = {"role": "system", "content": f"Session {uuid.uuid4()}"}
    a = client.create(
        model="default", messages=[system, {"role": "user", "content": "Hi"}], max_tokens=2
    )
    b = client.create(
        model="default", messages=[system, {"role": "user", "content": "Yo"}], max_tokens=2
    )
    assert conversation_id(a) != conversation_id(b)


def test_store_false_stores_nothing(server: Server) -> None:
    database, store = store_for(server)
    before = store.count_messages()
    raw = client_for(server).chat.completions.with_raw_response.create(
        model="default",
        messages=[{"role": "user", "content": f"Secret {uuid.uuid4()}"}],
        max_tokens=4,
        store=False,
    )
    assert raw.parse().choices[0].message.content is not None
    assert raw.headers["x-causerie-conversation-id"] == ""
    assert store.count_messages() == before
    database.dispose()


def wait_for_interrupted(database_url: str, conversation: str, timeout: float = 30) -> str:
    database = Database(database_url)
    from causerie.storage import ConversationStore

    store = ConversationStore(database)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            branch = store.branch(conversation)
            if branch and branch[-1].role == "assistant":
                assert branch[-1].status == "interrupted"
                return branch[-1].content
            time.sleep(0.1)
    finally:
        database.dispose()
    raise AssertionError("the partial reply was not saved")


def test_disconnect_stops_generation_and_saves_partial_reply(server: Server) -> None:
    seen = ""
    with httpx.stream(
        "POST", f"{server.url}/v1/chat/completions", json=LONG_STREAM, timeout=60
    ) as response:
        conversation = response.headers["x-causerie-conversation-id"]
        for line in response.iter_lines():
            if '"content":"' in line and '"role"' not in line:
                seen += line
                if seen.count("data:") >= 8:
                    break  # leave mid-stream: closing the connection is the disconnect
    partial = wait_for_interrupted(server.database_url, conversation)
    assert partial.startswith("1, 2")
    # The engine is free again: a short request is answered at once, not after ~1500 tokens.
    started = time.monotonic()
    client_for(server).chat.completions.create(
        model="default", messages=[{"role": "user", "content": "Hi"}], max_tokens=2
    )
    assert time.monotonic() - started < 10


def test_a_crash_mid_reply_loses_only_the_unfinished_reply(own_server: Server) -> None:
    with client_for(own_server) as client:
        kept = client.chat.completions.with_raw_response.create(
            model="default", messages=[{"role": "user", "content": "Hi"}], max_tokens=4
        )
    kept_id = conversation_id(kept)
    with httpx.stream(
        "POST", f"{own_server.url}/v1/chat/completions", json=LONG_STREAM, timeout=60
    ) as response:
        crashed_id = response.headers["x-causerie-conversation-id"]
        for line in response.iter_lines():
            if '"content":"' in line:
                assert own_server.process is not None
                own_server.process.kill()  # SIGKILL: no cleanup code runs
                own_server.process.wait()
                break
    own_server.start()
    database, store = store_for(own_server)
    assert [m.role for m in store.branch(kept_id)] == ["user", "assistant"]
    crashed = store.branch(crashed_id)
    assert [m.role for m in crashed] == ["user", "assistant", "user"]  # the history is intact
    database.dispose()
    # and the server goes on
    with client_for(own_server) as client:
        again = client.chat.completions.create(
            model="default", messages=long_reply_messages()[:1], max_tokens=3
        )
    assert again.choices[0].finish_reason in ("stop", "length")
