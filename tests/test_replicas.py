"""Two Causerie replicas on one Postgres database, as behind a load balancer: a conversation
started on one continues on the other, a session works on both, and usage and per-user limits
stay exact across both (the database does the counting)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import openai
import pytest

from causerie.auth.accounts import Accounts
from causerie.storage import ConversationStore, Database
from causerie.storage.usage import UsageLedger
from causerie.storage.users import Limits
from tests.archive.chatgpt_factory import Conversation
from tests.conftest import Server, create_pg_database
from tests.helpers import accounts_for, csrf_token_of, long_stream_body

pytestmark = pytest.mark.slow  # servers of its own (conftest.py: two tiers)

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def replicas(
    postgres_server: str, tmp_path_factory: pytest.TempPathFactory, model_dir: Path
) -> Iterator[tuple[Server, Server]]:
    url = create_pg_database(postgres_server, f"causerie_replicas_{uuid.uuid4().hex[:8]}")
    servers = [
        Server(
            database_url=url, data_dir=tmp_path_factory.mktemp(f"replica{n}"), model_dir=model_dir
        )
        for n in (1, 2)
    ]
    try:
        for server in servers:  # one after the other: the first migrates the database
            server.start()
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="module")
def user_key(replicas: tuple[Server, Server]) -> Iterator[tuple[str, str, Database]]:
    database, accounts = accounts_for(replicas[0])
    accounts.create_user("cli", "root", "root-password", role="admin")
    user = accounts.create_user("cli", "shared", "password-123")
    _, key = accounts.credentials.create_key(user.id, "replicas")
    yield user.id, key, database
    database.dispose()


def chat(
    server: Server, key: str, messages: list[dict[str, str]], max_tokens: int = 4
) -> httpx.Response:
    return httpx.post(
        f"{server.api_url}/chat/completions",
        json={"model": "default", "messages": messages, "max_tokens": max_tokens, "temperature": 0},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )


def test_a_conversation_moves_between_replicas(
    replicas: tuple[Server, Server], user_key: tuple[str, str, Database]
) -> None:
    one, two = replicas
    user_id, key, database = user_key
    first = chat(one, key, QUESTION)
    conversation = first.headers["x-causerie-conversation-id"]
    reply = first.json()["choices"][0]["message"]["content"]
    history = [
        *QUESTION,
        {"role": "assistant", "content": reply},
        {"role": "user", "content": "And Italy?"},
    ]
    second = chat(two, key, history)
    assert second.headers["x-causerie-conversation-id"] == conversation
    branch = ConversationStore(database, user_id).branch(conversation)
    assert [m.role for m in branch] == ["user", "assistant", "user", "assistant"]
    # a session made on one replica is good on the other; the page shows the conversation
    accounts = Accounts(user_key[2])
    session = accounts.credentials.start_session(user_id)
    for server in (one, two):
        with httpx.Client(base_url=server.url, cookies={"causerie_session": session}) as page:
            html = page.get(f"/c/{conversation}").text
            assert "And Italy?" in html
            assert csrf_token_of(html)


def test_usage_and_limits_are_exact_across_replicas(
    replicas: tuple[Server, Server], user_key: tuple[str, str, Database]
) -> None:
    one, two = replicas
    _, _, database = user_key
    accounts = Accounts(user_key[2])
    user = accounts.create_user("cli", f"limited{uuid.uuid4().hex[:6]}", "password-123")
    accounts.set_limits("cli", user.id, Limits(requests_per_minute=4, concurrent_requests=1))
    _, key = accounts.credentials.create_key(user.id, "limited")
    if datetime.now(UTC).second >= 50:  # the four calls and the refusals inside one minute
        time.sleep(61 - datetime.now(UTC).second)
    spent = [0, 0, 0]
    for server in (one, two, one, two):
        response = chat(server, key, QUESTION, max_tokens=2)
        assert response.status_code == 200
        usage = response.json()["usage"]
        spent[0] += 1
        spent[1] += usage["prompt_tokens"]
        spent[2] += usage["completion_tokens"]
    for server in (one, two):
        refused = chat(server, key, QUESTION)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "requests_per_minute_exceeded"
    lines = UsageLedger(database).lines(since=datetime.now(UTC).date(), user_id=user.id)
    assert [
        sum(x.requests for x in lines),
        sum(x.prompt_tokens for x in lines),
        sum(x.completion_tokens for x in lines),
    ] == spent


def test_one_request_at_a_time_across_replicas(
    replicas: tuple[Server, Server], user_key: tuple[str, str, Database]
) -> None:
    one, two = replicas
    accounts = Accounts(user_key[2])
    user = accounts.create_user("cli", f"single{uuid.uuid4().hex[:6]}", "password-123")
    accounts.set_limits("cli", user.id, Limits(concurrent_requests=1))
    _, key = accounts.credentials.create_key(user.id, "single")
    body = long_stream_body(400)
    headers = {"Authorization": f"Bearer {key}"}
    with (
        httpx.Client(timeout=120) as http,
        http.stream(
            "POST", f"{one.api_url}/chat/completions", json=body, headers=headers
        ) as stream,
    ):
        lines = stream.iter_lines()
        assert next(line for line in lines if line.startswith("data:"))
        with openai.OpenAI(base_url=two.api_url, api_key=key, max_retries=0) as api:
            with pytest.raises(openai.RateLimitError) as refused:
                api.chat.completions.create(model="default", messages=QUESTION, max_tokens=2)  # type: ignore[arg-type]
        assert refused.value.response.json()["error"]["code"] == "concurrent_requests_exceeded"


def test_an_import_s_status_is_answered_by_every_replica(
    replicas: tuple[Server, Server], user_key: tuple[str, str, Database]
) -> None:
    """The upload goes to one replica, which imports it; the other answers the job's status
    (stored, not in the first one's memory) and lists the imported conversation."""
    one, two = replicas
    _, key, _ = user_key
    headers = {"Authorization": f"Bearer {key}"}
    imported = Conversation(f"replicas-{uuid.uuid4().hex}", title="Moved between replicas")
    imported.add("u", imported.root(), "user", "Hello", at=1)
    export = f"[{json.dumps(imported.build('u'))}]".encode()
    made = httpx.post(
        f"{one.url}/api/imports", files={"file": ("c.json", export)}, headers=headers, timeout=60
    )
    assert made.status_code == 202, made.text
    for _ in range(600):
        job = httpx.get(f"{two.url}/api/imports/{made.json()['id']}", headers=headers).json()
        if job["state"] in ("done", "failed"):
            break
        time.sleep(0.05)
    assert job["state"] == "done" and job["summary"]["created"] == 1, job
    listed = httpx.get(f"{two.url}/api/conversations", headers=headers, timeout=60).json()
    assert "Moved between replicas" in [c["title"] for c in listed["data"]]
