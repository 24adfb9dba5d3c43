"""What the import tests share: importing bytes into a database, reading back the rows an
import wrote, counting the rows of every table, and an export that fails half way."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, select

from causerie.archive import ExportReader, ReadItem
from causerie.chat.importer import ImportSummary, run_import
from causerie.errors import ImportFormatError
from causerie.storage import Database
from causerie.storage.imports import ImportStore
from causerie.storage.tables import Base, ConversationImportRow, ConversationRow, MessageRow
from causerie.types import LOCAL_OWNER
from tests.archive.chatgpt_factory import PNG

ASSETS = {"file-IMG1": PNG}


def import_bytes(
    db: Database, data: bytes, owner: str = LOCAL_OWNER, **options: Any
) -> ImportSummary:
    return run_import(io.BytesIO(data), ImportStore(db, owner), **options)


def as_json(items: list[dict[str, Any]]) -> bytes:
    return json.dumps(items).encode()


def row_counts(db: Database) -> dict[str, int]:
    """Rows in every table of the schema (a table added later is counted too)."""
    with db.engine.connect() as connection:
        return {
            table.name: int(connection.scalar(select(func.count()).select_from(table)) or 0)
            for table in Base.metadata.sorted_tables
        }


def refused_untouched(db: Database, data: bytes) -> ImportFormatError:
    """Imports ``data``, which must be refused (a 400) with every table left as it was."""
    before = row_counts(db)
    try:
        import_bytes(db, data)
    except ImportFormatError as refused:
        assert refused.message and refused.status == 400
        assert row_counts(db) == before
        return refused
    raise AssertionError("the import was not refused")


def conversation_of(db: Database, external_id: str, owner: str = LOCAL_OWNER) -> ConversationRow:
    with db.session() as session:
        return session.scalars(
            select(ConversationRow)
            .join(
                ConversationImportRow,
                ConversationImportRow.conversation_id == ConversationRow.id,
            )
            .where(
                ConversationImportRow.external_id == external_id,
                ConversationImportRow.owner_id == owner,
            )
        ).one()


def messages_of(db: Database, conversation_id: str) -> dict[str, MessageRow]:
    """The conversation's rows by their source node id."""
    with db.session() as session:
        rows = session.scalars(
            select(MessageRow).where(MessageRow.conversation_id == conversation_id)
        ).all()
        return {row.external_id or row.id: row for row in rows}


class FailingHalfWay:
    """An export that breaks after ``after`` conversations (a disk that fails mid-read)."""

    def __init__(self, export: ExportReader, after: int) -> None:
        self.source, self.total, self.warnings = export.source, export.total, export.warnings
        self.account = export.account
        self._export, self._after = export, after

    def __iter__(self) -> Iterator[ReadItem]:
        for index, item in enumerate(self._export):
            if index == self._after:
                raise ImportFormatError("Zip member 'conversations.json' is damaged (test).")
            yield item

    def close(self) -> None:
        self._export.close()

    def __enter__(self) -> FailingHalfWay:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
