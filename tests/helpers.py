"""Small helpers shared by tests: a client for a server, and a look into its database."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import openai

from causerie.auth.accounts import Accounts
from causerie.config import usable_cpus
from causerie.retrieval.embed import Embedder
from causerie.storage import ConversationStore, Database

# llama.cpp's threads for every engine a test starts: the CPUs shared among pytest-xdist's
# workers, so that two workers' engines never spin on the same core.
ENGINE_THREADS = max(1, usable_cpus() // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
# The start of a count, cut short: the base model then counts on and on (greedy, unpenalized:
# 1,500 tokens and more, from a 333-token prompt that takes a fraction of a second to read; a
# whole 300-number example took 1,424 tokens, 3.8 s to read on one thread).
COUNT_START = ", ".join(str(i) for i in range(1, 61)) + ", ..."


def client_for(server: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.api_url, api_key="unused", max_retries=0)  # type: ignore[attr-defined]


def store_for(server: object) -> tuple[Database, ConversationStore]:
    """The server's own database, opened beside it (the schema is already migrated)."""
    database = Database(server.database_url)  # type: ignore[attr-defined]
    return database, ConversationStore(database)


def long_reply_messages() -> list[dict[str, str]]:
    """A history that makes the base model count for a long while (greedy; with the default
    repeat penalty, about 400 tokens)."""
    return [
        {"role": "user", "content": "Count from 1 to 1000."},
        {"role": "assistant", "content": COUNT_START},
        {"role": "user", "content": "Count from 1 to 1000 again, all the numbers."},
    ]


def long_stream_body(max_tokens: int) -> dict[str, object]:
    """A streamed ``/v1/chat/completions`` body that keeps the engine busy for a while."""
    return {
        "model": "default",
        "messages": long_reply_messages(),
        "max_tokens": max_tokens,
        "temperature": 0,
        "repeat_penalty": 1.0,  # unpenalized, the base model copies the whole count
        "stream": True,
    }


@contextmanager
def page_client(base_url: str, **options: object) -> Iterator[httpx.Client]:
    """An HTTP client that behaves like the page: it opens ``/`` first, keeps the cookies and
    sends the page's CSRF token with every request."""
    with httpx.Client(base_url=base_url, timeout=60, **options) as client:  # type: ignore[arg-type]
        client.headers["X-CSRF-Token"] = csrf_token_of(client.get("/").text)
        yield client


def csrf_token_of(html: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def accounts_for(server: object) -> tuple[Database, Accounts]:
    """The account service on the server's own database (what the CLI and admin pages use)."""
    database = Database(server.database_url)  # type: ignore[attr-defined]
    return database, Accounts(database)


@contextmanager
def multi_user(server: object) -> Iterator[Accounts]:
    """The server's accounts, with the admin ``root`` (password ``root-password``) created first
    if it is not there yet (the server is then multi-user for good)."""
    database, service = accounts_for(server)
    try:
        if not service.users.credentials("root"):
            service.create_user("cli", "root", "root-password", role="admin")
        yield service
    finally:
        database.dispose()


def page_events(response: httpx.Response) -> list[tuple[str, dict[str, object]]]:
    """The ``(event, data)`` pairs of a ``POST /c/send`` answer (server-sent events)."""
    parsed = []
    for block in response.text.split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        parsed.append((fields["event"], json.loads(fields["data"])))
    return parsed


# One embedding model per test process (loading it costs about 1.5 s): the modules that embed
# without a server share it.
EMBEDDER = Embedder()
