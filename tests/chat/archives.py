"""What the archive tests share: exporting an owner's data as Causerie's archive, reading an
archive back as comparable members, checking it against the shipped schema, and fresh
databases (a pair, the source and an empty target, or as many as a test asks for) on SQLite or
Postgres."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from causerie.archive.causerie_zip import MANIFEST, schema
from causerie.chat.archive_export import Owner, archive_chunks
from causerie.chat.importer import ImportSummary, run_import
from causerie.storage import Database
from causerie.storage.imports import ImportStore
from tests.conftest import create_pg_database


def export_archive(db: Database, owner: str, username: str | None = None) -> bytes:
    return b"".join(archive_chunks(db, [Owner(owner, username)]))


def import_archive(db: Database, data: bytes, owner: str, **options: Any) -> ImportSummary:
    return run_import(io.BytesIO(data), ImportStore(db, owner), **options)


def members(data: bytes) -> dict[str, Any]:
    """Every member of an archive (JSON parsed, bytes as they are), the manifest without its
    export time: two exports of the same data are equal."""
    found: dict[str, Any] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            raw = archive.read(name)
            found[name] = json.loads(raw) if name.endswith(".json") else raw
    found[MANIFEST].pop("exported_at")
    return found


def validate(data: bytes) -> None:
    """The manifest against the shipped schema, each conversation against its ``$defs``."""
    shipped = schema()
    jsonschema.Draft202012Validator.check_schema(shipped)
    conversation = {"$defs": shipped["$defs"], "$ref": "#/$defs/conversation"}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        manifest = json.loads(archive.read(MANIFEST))
        jsonschema.validate(manifest, shipped, jsonschema.Draft202012Validator)
        for account in manifest["accounts"]:
            for member in account["conversations"]:
                document = json.loads(archive.read(member))
                jsonschema.validate(document, conversation, jsonschema.Draft202012Validator)
                for message in document["messages"]:
                    for file in message.get("attachments", ()):
                        if file["member"] is not None:
                            assert file["member"] in archive.namelist()


def fresh_database(request: pytest.FixtureRequest, tmp_path: Path, kind: str) -> Database:
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}"
    else:
        server = request.getfixturevalue("postgres_server")
        url = create_pg_database(server, f"a_{uuid.uuid4().hex}")
    database = Database(url)
    database.migrate()
    return database


def database_pair(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Database, Database]]:
    """For a fixture parametrized sqlite/postgres: a source database and an empty target."""
    source = fresh_database(request, tmp_path, request.param)
    target = fresh_database(request, tmp_path, request.param)
    yield source, target
    source.dispose()
    target.dispose()


def database_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], Database]]:
    """For a fixture parametrized sqlite/postgres: makes a fresh, empty, migrated database at
    each call (a Hypothesis example takes its own), all disposed of at the end."""
    made: list[Database] = []

    def make() -> Database:
        made.append(fresh_database(request, tmp_path, request.param))
        return made[-1]

    yield make
    for database in made:
        database.dispose()
