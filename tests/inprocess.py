"""The in-process test tier: the real app on real ``Services`` (the real model in its engine
process, a real SQLite file or Postgres database), driven through ``httpx.ASGITransport``, as
datasette's tests drive datasette: no socket and no server process, one model load per session
and database. Tests that need a real socket (streaming disconnects, replicas, the CLI, the
browser) keep a ``causerie serve`` subprocess (``conftest.Server``).

    pytestmark = pytest.mark.anyio

    async def test_something(app: InProcess) -> None:
        async with app.openai() as client:
            ...
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
from anyio.from_thread import start_blocking_portal
from fastapi import FastAPI
from starlette.testclient import TestClient

from causerie.app import create_app
from causerie.config import Settings
from causerie.services import Services
from tests.helpers import ENGINE_THREADS, csrf_token_of

BASE_URL = "http://localhost"  # a loopback name: the host guard lets it in


@dataclass
class InProcess:
    """An app served in this process. ``database_url`` and ``data_dir`` are its own, as a
    ``Server``'s are, so the helpers that open the database beside it work on both."""

    services: Services
    app: FastAPI
    database_url: str
    data_dir: Path

    url = BASE_URL
    api_url = f"{BASE_URL}/v1"

    def http(self, **options: Any) -> httpx.AsyncClient:
        """A client whose requests go straight into the app."""
        transport = httpx.ASGITransport(app=self.app, client=("127.0.0.1", 50000))
        return httpx.AsyncClient(transport=transport, base_url=self.url, **options)

    @contextmanager
    def page(self) -> Iterator[httpx.Client]:
        """A synchronous client that behaves like the page (cookies, the CSRF token), for tests
        beside the browser's: starlette's ``TestClient`` runs the app on a loop of its own."""
        with TestClient(self.app, base_url=self.url, client=("127.0.0.1", 50000)) as client:
            client.headers["X-CSRF-Token"] = csrf_token_of(client.get("/").text)
            yield client

    def openai(self, api_key: str = "unused") -> openai.AsyncOpenAI:
        """The official client, over the in-process transport."""
        return openai.AsyncOpenAI(
            base_url=self.api_url, api_key=api_key, max_retries=0, http_client=self.http()
        )


def serve_in_process(
    data_dir: Path, model_dir: Path, database_url: str, **settings: Any
) -> Iterator[InProcess]:
    """Build the services (migrate, load the model) and the app on them; close them after."""
    chosen = Settings(
        data_dir=data_dir,
        models_dir=model_dir,
        database_url=database_url,
        threads=ENGINE_THREADS,
        **settings,
    )
    services = Services.build(chosen)
    try:
        yield InProcess(services, create_app(chosen, services), database_url, data_dir)
    finally:
        # On a loop of its own: the browser tests' event loop may be running in this thread.
        with start_blocking_portal() as portal:
            portal.call(services.close)


def sqlite_app_with(tmp: Path, model_dir: Path, **settings: Any) -> Iterator[InProcess]:
    """An app of its own on a fresh SQLite file in ``tmp``, with ``settings``."""
    yield from serve_in_process(tmp, model_dir, f"sqlite:///{tmp / 'causerie.db'}", **settings)
