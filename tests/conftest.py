"""Real parts for tests: the app in-process or a `causerie serve` process, with the real model,
SQLite and Postgres.

Fixtures:
- ``model_dir``: where the bundled GGUF is assembled once and shared by every server.
- ``postgres_url``: a throwaway PostgreSQL cluster started for this session (Debian's binaries).
- ``app`` (parametrized sqlite/postgres), ``sqlite_app``: the real app in this process
  (``tests/inprocess.py``), for the fast tier.
- ``server`` (parametrized sqlite/postgres) and ``sqlite_server``: a running `causerie serve`,
  for what needs a real socket.

Two tiers: ``make test-fast`` runs the tests not marked ``slow``; a test is ``slow`` when it
runs a server, a ``causerie`` command, an engine or a browser of its own in another process
(marked here from its fixtures, or by its module or itself). In the fast tier, starting a server process fails the
test, so the marking cannot drift.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from hypothesis import settings

from causerie.storage import Database
from tests.helpers import ENGINE_THREADS
from tests.inprocess import InProcess, serve_in_process
from tests.web.chromium import CHROMIUM_PROCESS

# CI runs the same property-test examples every time (a failure found while developing becomes an
# @example); developers' runs keep exploring new ones.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parent.parent
WEB_TESTS = ROOT / "tests" / "web"  # the only tests that drive a browser
FAST_TIER = "CAUSERIE_TEST_FAST"  # set by `make test-fast`
# Fixtures that start a `causerie serve` process or a browser: a test using one is slow.
SLOW_FIXTURES = {
    "server",
    "sqlite_server",
    "postgres_app_server",
    "accounts_server",
    "accounts_sqlite_server",
    "accounts_postgres_server",
    "page",
    "upstream",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _no_browser_loop(request: pytest.FixtureRequest) -> None:
    """Stop this process's chromium before a test outside ``tests/web``: Playwright's event loop
    would keep the test from running one (``tests/web/chromium.py``)."""
    if WEB_TESTS not in request.path.parents:
        CHROMIUM_PROCESS.stop()


def pytest_sessionfinish() -> None:
    CHROMIUM_PROCESS.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """A models directory holding the bundled GGUF (assembled once, reused across runs)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    directory = Path(base) / "causerie" / "test-models"
    from causerie.engine.model import bundled_model_path

    bundled_model_path(directory)
    return directory


@dataclass
class Server:
    """A `causerie serve` subprocess. ``restart()`` stops it and starts it on the same data."""

    database_url: str
    data_dir: Path
    model_dir: Path
    env_extra: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/v1"

    def start(self) -> None:
        if os.environ.get(FAST_TIER):
            raise RuntimeError("this test starts a server process: mark it slow (conftest.py)")
        self.port = self.port or free_port()
        env = {
            **os.environ,
            "CAUSERIE_DATA_DIR": str(self.data_dir),
            "CAUSERIE_MODELS_DIR": str(self.model_dir),
            "CAUSERIE_DATABASE_URL": self.database_url,
            "CAUSERIE_THREADS": str(ENGINE_THREADS),
            "CAUSERIE_LOG_LEVEL": "warning",
            **self.env_extra,
        }
        self.log_path = self.data_dir / "server.log"
        with self.log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                [sys.executable, "-m", "causerie", "serve", "--port", str(self.port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server did not become ready within 120 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


def _pg_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if found:
        return str(found[-1])
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"PostgreSQL's {name} is not installed (make test installs it)")
    return path


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Start a private PostgreSQL cluster; yields a base URL without a database name."""
    root = Path(tempfile.mkdtemp(prefix="causerie-pg-"))
    data, sockets = root / "data", root / "sock"
    data.mkdir()
    sockets.mkdir()
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(root, "postgres")
        shutil.chown(data, "postgres")
        shutil.chown(sockets, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run(
        [
            *as_postgres,
            _pg_bin("initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [
            *as_postgres,
            _pg_bin("pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(root / "pg.log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(
            [*as_postgres, _pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


def create_pg_database(base_url: str, name: str) -> str:
    import psycopg

    plain = base_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(f"{plain}/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return f"{base_url}/{name}"


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def sqlite_app(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[InProcess]:
    tmp = tmp_path_factory.mktemp("sqlite-app")
    yield from serve_in_process(tmp, model_dir, f"sqlite:///{tmp / 'causerie.db'}")


@pytest.fixture(scope="session")
def postgres_app(
    tmp_path_factory: pytest.TempPathFactory, model_dir: Path, postgres_server: str
) -> Iterator[InProcess]:
    url = create_pg_database(postgres_server, "causerie_in_process")
    yield from serve_in_process(tmp_path_factory.mktemp("pg-app"), model_dir, url)


@pytest.fixture(params=["sqlite", "postgres"])
def app(request: pytest.FixtureRequest) -> InProcess:
    """The same test against the app in-process on SQLite and on Postgres."""
    return request.getfixturevalue(f"{request.param}_app")  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def postgres_url(postgres_server: str) -> str:
    """A fresh, empty database on the session's PostgreSQL server."""
    return create_pg_database(postgres_server, "causerie_api")


def _server(
    tmp: Path, database_url: str, model_dir: Path, env: dict[str, str] | None = None
) -> Iterator[Server]:
    server = Server(
        database_url=database_url, data_dir=tmp, model_dir=model_dir, env_extra=env or {}
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def sqlite_server_with(tmp: Path, model_dir: Path, **env: str) -> Iterator[Server]:
    """A server of its own on a fresh SQLite file, with extra ``CAUSERIE_*`` settings."""
    yield from _server(tmp, f"sqlite:///{tmp / 'causerie.db'}", model_dir, env)


@pytest.fixture(scope="session")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[Server]:
    yield from sqlite_server_with(tmp_path_factory.mktemp("sqlite-server"), model_dir)


@pytest.fixture(scope="session")
def postgres_app_server(
    tmp_path_factory: pytest.TempPathFactory, model_dir: Path, postgres_url: str
) -> Iterator[Server]:
    yield from _server(tmp_path_factory.mktemp("pg-server"), postgres_url, model_dir)


@pytest.fixture(params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest) -> Server:
    """The same test against a server on SQLite and on Postgres."""
    name = "sqlite_server" if request.param == "sqlite" else "postgres_app_server"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def accounts_sqlite_server(
    tmp_path_factory: pytest.TempPathFactory, model_dir: Path
) -> Iterator[Server]:
    yield from sqlite_server_with(tmp_path_factory.mktemp("accounts-sqlite"), model_dir)


@pytest.fixture(scope="session")
def accounts_postgres_server(
    tmp_path_factory: pytest.TempPathFactory, model_dir: Path, postgres_server: str
) -> Iterator[Server]:
    url = create_pg_database(postgres_server, "causerie_accounts")
    yield from _server(tmp_path_factory.mktemp("accounts-postgres"), url, model_dir)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def accounts_server(request: pytest.FixtureRequest) -> Server:
    """A server for tests that create accounts, on SQLite then on Postgres, shared by every such
    module (each test makes users, keys and sign-in addresses of its own). An account turns a
    server multi-user for good: never create one on ``sqlite_server`` / ``postgres_app_server``."""
    return request.getfixturevalue(f"accounts_{request.param}_server")  # type: ignore[no-any-return]


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A fresh, migrated database for one test: SQLite, then Postgres."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = create_pg_database(
            request.getfixturevalue("postgres_server"), f"s_{uuid.uuid4().hex}"
        )
    migrated = Database(url)
    migrated.migrate()
    yield migrated
    migrated.dispose()
