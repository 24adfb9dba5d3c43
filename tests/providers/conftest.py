"""Real upstreams for provider tests: a second `causerie serve` (its own data directory) and,
where an upstream must misbehave on demand, a ``Relay`` in front of it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import Server
from tests.providers.relay import Relay


def start_server(data_dir: Path, model_dir: Path, **env: str) -> Server:
    server = Server(
        database_url=f"sqlite:///{data_dir / 'causerie.db'}",
        data_dir=data_dir,
        model_dir=model_dir,
        env_extra=env,
    )
    server.start()
    return server


@contextmanager
def served_with(tmp_path: Path, model_dir: Path, providers: str, **env: str) -> Iterator[Server]:
    """A server of one test's own, configured with the providers file ``providers``."""
    path = tmp_path / "providers.toml"
    path.write_text(providers)
    (tmp_path / "data").mkdir()
    server = start_server(tmp_path / "data", model_dir, CAUSERIE_PROVIDERS_FILE=str(path), **env)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def upstream(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[Server]:
    """A real `causerie serve` that plays the OpenAI-compatible upstream."""
    server = start_server(tmp_path_factory.mktemp("upstream"), model_dir)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def relay(upstream: Server) -> Iterator[Relay]:
    relay = Relay(upstream.api_url).start()
    try:
        yield relay
    finally:
        relay.stop()


@pytest.fixture(scope="module")
def module_relay(upstream: Server) -> Iterator[Relay]:
    """A ``Relay`` shared by the tests of one module (a module's server is configured with it)."""
    relay = Relay(upstream.api_url).start()
    try:
        yield relay
    finally:
        relay.stop()
