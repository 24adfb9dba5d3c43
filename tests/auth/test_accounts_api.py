"""Accounts on the API, with the official `openai` client against a real server (SQLite, then
Postgres): keys, per-user limits (429 + Retry-After), exact usage, model restrictions, and
conversations that stay their owner's."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import openai
import pytest

from causerie.auth.accounts import Accounts
from causerie.retrieval.embed import EMBEDDING_MODEL
from causerie.storage import Database
from causerie.storage.usage import UsageLedger
from causerie.storage.users import Account, Limits
from tests.conftest import Server
from tests.helpers import long_stream_body, multi_user

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
MODEL = "gemma-3-270m-q4_k_m"


@pytest.fixture
def accounts(accounts_server: Server) -> Iterator[Accounts]:
    with multi_user(accounts_server) as service:
        yield service


def new_user(accounts: Accounts, **limits: int) -> tuple[Account, str]:
    """A fresh user and one API key of theirs."""
    account = accounts.create_user("cli", f"u{uuid.uuid4().hex[:10]}", "password-123")
    if limits:
        account = accounts.set_limits("cli", account.id, Limits(**limits))
    _, key = accounts.credentials.create_key(account.id, "test")
    return account, key


def client(server: Server, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.api_url, api_key=key, max_retries=0)


def ask(server: Server, key: str, max_tokens: int = 2) -> openai.types.chat.ChatCompletion:
    with client(server, key) as api:
        return api.chat.completions.create(
            model="default", messages=QUESTION, max_tokens=max_tokens, temperature=0
        )


def models_of(server: Server, key: str) -> list[str]:
    with client(server, key) as api:
        return [model.id for model in api.models.list().data]


def test_every_way_of_passing_a_key_and_none(accounts_server: Server, accounts: Accounts) -> None:
    _, key = new_user(accounts)
    url = f"{accounts_server.api_url}/models"
    missing = httpx.get(url)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "missing_api_key"
    assert missing.json()["error"]["type"] == "authentication_error"
    wrong = httpx.get(url, headers={"Authorization": f"Bearer {key}x"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    assert httpx.get(url, headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert httpx.get(url, headers={"api-key": key}).status_code == 200
    assert httpx.get(url, headers={"Authorization": "Bearer csk-nothere-x"}).status_code == 401
    # a session cookie is no credential for the API
    assert httpx.get(url, cookies={"causerie_session": "anything"}).status_code == 401
    with pytest.raises(openai.AuthenticationError):
        models_of(accounts_server, "sk-not-a-causerie-key")


def test_disabled_users_and_revoked_keys_are_refused_on_the_next_request(
    accounts_server: Server, accounts: Accounts
) -> None:
    user, key = new_user(accounts)
    other_info, other_key = accounts.credentials.create_key(user.id, "second")
    assert models_of(accounts_server, other_key) == [MODEL, "default"]
    accounts.credentials.revoke_key(user.id, other_info.id)
    with pytest.raises(openai.AuthenticationError):
        models_of(accounts_server, other_key)
    assert models_of(accounts_server, key) == [MODEL, "default"]  # the other key still works
    accounts.set_status("cli", user.id, "disabled")
    with pytest.raises(openai.AuthenticationError):
        models_of(accounts_server, key)
    accounts.set_status("cli", user.id, "active")
    with pytest.raises(openai.AuthenticationError):  # disabling revoked every key for good
        models_of(accounts_server, key)


def test_requests_per_minute(accounts_server: Server, accounts: Accounts) -> None:
    _, key = new_user(accounts, requests_per_minute=2)
    if datetime.now(UTC).second >= 50:  # keep the three calls inside one minute
        time.sleep(61 - datetime.now(UTC).second)
    ask(accounts_server, key)
    ask(accounts_server, key)
    with pytest.raises(openai.RateLimitError) as refused:
        ask(accounts_server, key)
    response = refused.value.response
    assert response.json()["error"]["code"] == "requests_per_minute_exceeded"
    assert 1 <= int(response.headers["retry-after"]) <= 60


def test_tokens_per_day(accounts_server: Server, accounts: Accounts) -> None:
    user, key = new_user(accounts, tokens_per_day=40)
    first = ask(accounts_server, key, max_tokens=30)
    assert first.usage is not None
    spent = first.usage.total_tokens
    assert spent >= 40  # the prompt alone is ~30 tokens; the reply was capped to what was left
    with pytest.raises(openai.RateLimitError) as refused:
        ask(accounts_server, key)
    response = refused.value.response
    assert response.json()["error"]["code"] == "tokens_per_day_exceeded"
    assert int(response.headers["retry-after"]) <= 86400
    accounts.set_limits("cli", user.id, Limits(tokens_per_day=10_000))
    assert ask(accounts_server, key).choices  # raised by the admin: allowed at once


def test_embeddings_count_in_usage_and_the_daily_tokens(
    accounts_server: Server, accounts: Accounts
) -> None:
    user, key = new_user(accounts, tokens_per_day=30)
    with client(accounts_server, key) as api:
        first = api.embeddings.create(model=EMBEDDING_MODEL, input=["one text", "and another"])
        spent = first.usage.prompt_tokens
        api.embeddings.create(model=EMBEDDING_MODEL, input="x " * 40)  # over what is left
        with pytest.raises(openai.RateLimitError) as refused:
            api.embeddings.create(model=EMBEDDING_MODEL, input="more")
    assert refused.value.response.json()["error"]["code"] == "tokens_per_day_exceeded"
    database = Database(accounts_server.database_url)
    lines = UsageLedger(database).lines(since=datetime.now(UTC).date(), user_id=user.id)
    database.dispose()
    assert [(line.model, line.requests) for line in lines] == [(EMBEDDING_MODEL, 2)]
    assert lines[0].prompt_tokens > spent and lines[0].completion_tokens == 0


def test_concurrent_requests(accounts_server: Server, accounts: Accounts) -> None:
    _, key = new_user(accounts, concurrent_requests=1)
    body = long_stream_body(400)
    headers = {"Authorization": f"Bearer {key}"}
    with (
        httpx.Client(timeout=120) as http,
        http.stream(
            "POST", f"{accounts_server.api_url}/chat/completions", json=body, headers=headers
        ) as stream,
    ):
        lines = stream.iter_lines()  # keep the iterator: the stream stays open while we ask again
        assert next(line for line in lines if line.startswith("data:"))
        with pytest.raises(openai.RateLimitError) as refused:
            ask(accounts_server, key)
        error = refused.value.response
        assert error.json()["error"]["code"] == "concurrent_requests_exceeded"
        assert error.headers["retry-after"] == "1"
    deadline = time.monotonic() + 30
    while True:  # the slot frees when the server notices the disconnect
        try:
            ask(accounts_server, key)
            break
        except openai.RateLimitError:
            assert time.monotonic() < deadline
            time.sleep(0.2)


def test_usage_is_counted_exactly_per_user_key_and_model(
    accounts_server: Server, accounts: Accounts
) -> None:
    user, key = new_user(accounts)
    second_info, second_key = accounts.credentials.create_key(user.id, "second")
    first_key_id = key.split("-")[1]
    expected: dict[str, list[int]] = {first_key_id: [0, 0, 0, 0], second_info.id: [0, 0, 0, 0]}
    results: list[tuple[str, openai.types.CompletionUsage]] = []
    lock = threading.Lock()

    def call(which: str, api_key: str) -> None:
        response = ask(accounts_server, api_key, max_tokens=3)
        assert response.usage is not None
        with lock:
            results.append((which, response.usage))

    threads = [
        threading.Thread(target=call, args=(kid, k))
        for kid, k in [(first_key_id, key), (second_info.id, second_key)] * 3
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 6
    for which, usage in results:
        cached = usage.prompt_tokens_details.cached_tokens if usage.prompt_tokens_details else 0
        counters = expected[which]
        counters[0] += 1
        counters[1] += usage.prompt_tokens
        counters[2] += cached or 0
        counters[3] += usage.completion_tokens
    database = Database(accounts_server.database_url)
    lines = UsageLedger(database).lines(since=datetime.now(UTC).date(), user_id=user.id)
    database.dispose()
    recorded = {
        line.key_id: [
            line.requests,
            line.prompt_tokens,
            line.cached_tokens,
            line.completion_tokens,
        ]
        for line in lines
    }
    assert {line.model for line in lines} == {MODEL}
    assert recorded == expected
    assert any(counters[2] > 0 for counters in expected.values())  # the prompt cache counted


def test_model_restrictions_by_user_and_by_group(
    accounts_server: Server, accounts: Accounts
) -> None:
    user, key = new_user(accounts)
    assert models_of(accounts_server, key) == [MODEL, "default"]
    accounts.set_models("cli", user.id, ["some-other-model"])
    assert models_of(accounts_server, key) == []
    with pytest.raises(openai.NotFoundError) as refused:
        ask(accounts_server, key)
    assert refused.value.response.json()["error"]["code"] == "model_not_found"
    with client(accounts_server, key) as api, pytest.raises(openai.NotFoundError):
        api.models.retrieve(MODEL)
    accounts.set_models("cli", user.id, None)  # back to the group's choice
    accounts.set_group_models("cli", "students", [MODEL])
    accounts.set_group("cli", user.id, "students")
    assert models_of(accounts_server, key) == [MODEL, "default"]
    assert ask(accounts_server, key).choices  # "default" resolves to an allowed model
    accounts.set_group_models("cli", "students", [])
    with pytest.raises(openai.NotFoundError):
        ask(accounts_server, key)


def test_a_resent_history_continues_only_its_owners_conversation(
    accounts_server: Server, accounts: Accounts
) -> None:
    _, key_a = new_user(accounts)
    _, key_b = new_user(accounts)
    with client(accounts_server, key_a) as api_a, client(accounts_server, key_b) as api_b:
        first = api_a.chat.completions.with_raw_response.create(
            model="default", messages=QUESTION, max_tokens=4, temperature=0
        )
        conversation_a = first.headers["x-causerie-conversation-id"]
        reply = first.parse().choices[0].message.content or ""
        history = [
            *QUESTION,
            {"role": "assistant", "content": reply},
            {"role": "user", "content": "Why?"},
        ]
        as_b = api_b.chat.completions.with_raw_response.create(
            model="default",
            messages=history,  # type: ignore[arg-type]
            max_tokens=2,
        )
        assert as_b.headers["x-causerie-conversation-id"] != conversation_a
        as_a = api_a.chat.completions.with_raw_response.create(
            model="default",
            messages=history,  # type: ignore[arg-type]
            max_tokens=2,
        )
        assert as_a.headers["x-causerie-conversation-id"] == conversation_a
