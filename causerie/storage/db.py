"""The database handle: an SQLAlchemy engine for SQLite (WAL) or Postgres, migrated at start-up."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import sqlean
import sqlite_vec
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from anyio import to_thread
from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from causerie.errors import ConfigurationError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

_ON_THE_LOOP: ContextVar[bool] = ContextVar("on_the_loop", default=False)


def _sqlite_setup(dbapi_connection: Any, _record: Any) -> None:
    """Every new SQLite connection: WAL, foreign keys, sqlite-vec's vector functions, and
    ``secure_delete``: deleted rows are overwritten with zeros in the file, not just unlinked."""
    dbapi_connection.enable_load_extension(True)
    sqlite_vec.load(dbapi_connection)
    dbapi_connection.enable_load_extension(False)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def redacted_url(url: str) -> str:
    """A database URL fit to print: the password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can parse: show only its scheme
        return url.split(":", 1)[0] + ":…"


class Database:
    """Owns the engine and the session factory; ``migrate()`` brings the schema to head."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = self.sqlite_path
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            # The driver is sqlean.py, Python's sqlite3 module with its own SQLite build that
            # can load extensions (sqlite-vec): many Pythons' own sqlite3 cannot (pyenv's,
            # macOS's), and one SQLite version everywhere behaves the same everywhere.
            self.engine: Engine = create_engine(
                url, module=sqlean, connect_args={"check_same_thread": False}
            )
            event.listen(self.engine, "connect", _sqlite_setup)
            # One connection kept for the reads ``read`` runs on the event loop: they never
            # overlap (each runs to its end without yielding), and taking a connection from
            # the queue pool costs a cold request more than the read itself.
            self._loop_engine: Engine | None = create_engine(
                url, module=sqlean, poolclass=StaticPool, connect_args={"check_same_thread": False}
            )
            event.listen(self._loop_engine, "connect", _sqlite_setup)
        else:
            self._loop_engine = None
            try:
                self.engine = create_engine(url, pool_pre_ping=True)
            except Exception as exc:  # bad URL or missing driver
                raise ConfigurationError(f"cannot use database URL {url!r}: {exc}") from exc
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file, or None for Postgres and in-memory databases."""
        database = make_url(self.url).database if self.is_sqlite else None
        if not database or database == ":memory:":
            return None
        return Path(database)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection for a few Core reads on every request's path: no ORM session to set up,
        which on SQLite is most of a small read's cost (rolled back when the block ends). Inside
        ``read`` on SQLite: the event loop's own connection."""
        engine = self._loop_engine if _ON_THE_LOOP.get() and self._loop_engine else self.engine
        with engine.connect() as connection:
            yield connection

    async def read(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn``, a short read on every request's path, where it costs least.

        On SQLite in WAL mode a reader never waits for a writer (it waits only while another
        connection recovers the log after a crash), and a point read takes a fraction of the
        hop to a worker thread and back, so it runs here, on the event loop. On Postgres a read
        is a network round-trip: it goes to a worker thread. ``fn`` must not write."""
        if self._loop_engine is None:
            return await to_thread.run_sync(lambda: fn(*args, **kwargs))
        token = _ON_THE_LOOP.set(True)
        try:
            return fn(*args, **kwargs)
        finally:
            _ON_THE_LOOP.reset(token)

    def flush_erased(self) -> None:
        """After an erasure, on SQLite: copy the write-ahead log into the file and truncate it,
        so the pages that held the erased rows (kept in the log until a checkpoint) are gone
        from the log; ``secure_delete`` zeroed them in the file. Nothing to do on Postgres
        (see docs/accounts.md on ``VACUUM``)."""
        if not self.is_sqlite:
            return
        with self.engine.connect() as connection:
            busy = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()
        if busy is not None and busy[0]:  # a reader held the log: the next checkpoint will do
            log.warning("the write-ahead log could not be truncated after an erasure")

    def ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def migration_state(self) -> tuple[str | None, str | None]:
        """(the schema revision the database is at, the newest one this code knows)."""
        head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
        with self.engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
        return current, head

    def migrate(self) -> Path | None:
        """Upgrade to the newest schema; back up a SQLite file first. Returns the backup path."""
        current, head = self.migration_state()
        if current == head:
            return None
        config = _alembic_config()
        backup = self._backup_sqlite() if current is not None else None
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        return backup

    def _backup_sqlite(self) -> Path | None:
        path = self.sqlite_path
        if not self.is_sqlite or path is None or not path.exists():
            return None
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        backup = path.with_name(f"{path.name}.{stamp}.bak")
        with sqlean.connect(path) as source, sqlean.connect(backup) as target:
            source.backup(target)  # consistent copy even with WAL
        return backup

    def dispose(self) -> None:
        self.engine.dispose()
        if self._loop_engine is not None:
            self._loop_engine.dispose()
