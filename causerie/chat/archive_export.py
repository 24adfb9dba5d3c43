"""*Export all my data*: one account's (or every account's) conversations, preferences and
projects as Causerie's archive (``archive/causerie_zip.py``, described in docs/archive.md),
handed out as zip bytes while it is written.

    for chunk in archive_chunks(db, [Owner(user_id, "alice")]):
        out.write(chunk)

One conversation is read and written at a time, an attachment's bytes only when written, so
memory stays flat whatever the account holds; the HTTP route streams the same chunks.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from causerie.archive.causerie_zip import (
    FORMAT,
    VERSION,
    ArchiveWriter,
    attachment_member,
    conversation_member,
)
from causerie.chat.export import iso, message_document, summary_fields
from causerie.errors import InvalidRequestError, NotFoundError
from causerie.storage.account_data import AccountData, ConversationRecord
from causerie.storage.db import Database
from causerie.storage.users import UserStore
from causerie.types import LOCAL_OWNER, Project

__all__ = ["Owner", "archive_chunks", "archive_filename", "owners_to_export"]


@dataclass(frozen=True, slots=True)
class Owner:
    """Whose data: the owner id, and the account's name (None: the local user of a server
    without accounts)."""

    id: str
    username: str | None


def _read_whole(
    data: AccountData, conversation_id: str
) -> tuple[ConversationRecord, list[tuple[str, bytes]]] | None:
    """A conversation with its attachments' bytes, or None when it was deleted meanwhile."""
    try:
        record = data.conversation(conversation_id)
        contents = [
            (file.id, data.attachment_bytes(file.id))
            for files in record.attachments.values()
            for file in files
            if file.missing is None
        ]
    except NotFoundError:
        return None
    return record, contents


def archive_chunks(
    db: Database, owners: Sequence[Owner], now: datetime | None = None
) -> Iterator[bytes]:
    """The archive of ``owners``' data, as the zip's bytes in the order written."""
    writer = ArchiveWriter()
    accounts: list[dict[str, Any]] = []
    for owner in owners:
        data = AccountData(db, owner.id)
        members: list[str] = []
        for conversation_id in data.conversation_ids():
            read = _read_whole(data, conversation_id)
            if read is None:
                continue  # deleted while the archive was being written: not in it
            record, contents = read
            for attachment_id, content in contents:
                yield writer.add_bytes(attachment_member(attachment_id), content)
            member = conversation_member(conversation_id)
            yield writer.add_json(member, conversation_document(record))
            members.append(member)
        accounts.append(
            {
                "username": owner.username,
                "preferences": data.preferences(),
                "projects": [project_document(p) for p in data.projects()],
                "conversations": members,
            }
        )
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": iso(now or datetime.now(UTC)),
        "accounts": accounts,
    }
    yield writer.finish(manifest)


def owners_to_export(db: Database, username: str | None, every: bool) -> list[Owner]:
    """``username``'s account; with ``every``, every account (and the local user's data, kept
    from before there were accounts, when there is some); with neither on a server without
    accounts, the local user. Raises NotFoundError for an unknown name, and InvalidRequestError
    when a server with accounts is not told whose."""
    users = UserStore(db)
    if every:
        owners = [Owner(account.id, account.username) for account in users.all()]
        local = AccountData(db, LOCAL_OWNER)
        if local.conversation_ids() or local.preferences() or not owners:
            owners.insert(0, Owner(LOCAL_OWNER, None))
        return owners
    if username is not None:
        account = users.by_username(username)
        return [Owner(account.id, account.username)]
    if users.any():
        raise InvalidRequestError("This server has accounts: say whose data to export.")
    return [Owner(LOCAL_OWNER, None)]


def archive_filename(username: str | None, now: datetime | None = None) -> str:
    """``causerie-<name>-<date>.zip``."""
    day = (now or datetime.now(UTC)).strftime("%Y-%m-%d")
    name = "".join(c if c.isalnum() or c in "-_" else "-" for c in (username or "local"))
    return f"causerie-{name}-{day}.zip"


def conversation_document(record: ConversationRecord) -> dict[str, Any]:
    """One conversation of the archive: what the JSON export holds, and the rest Causerie
    keeps (its project, flags, settings as stored, share links, where it was imported from,
    each message's id in that export, and where each attachment's bytes are in the zip)."""
    summary, origin = record.summary, record.origin
    return {
        **summary_fields(summary),
        "pinned": summary.pinned,
        "archived": summary.archived,
        "project_id": summary.project_id,
        "settings": record.settings,
        "imported_from": None
        if origin is None
        else {
            "source": origin.source,
            "external_id": origin.external_id,
            "seen": origin.seen,
            "imported_at": iso(origin.imported_at),
            "custom_instructions": origin.custom_instructions,
        },
        "shares": [
            {
                "token": share.token,
                "title": share.title,
                "messages": share.messages,
                "created_at": iso(share.created_at),
                "revoked_at": iso(share.revoked_at) if share.revoked_at else None,
            }
            for share in record.shares
        ],
        "messages": [
            _archived_message(message_document(m, record.attachments.get(m.id, ())), m.external_id)
            for m in record.messages
        ],
    }


def _archived_message(document: dict[str, Any], external_id: str | None) -> dict[str, Any]:
    """A message as the archive holds it: its id in the export it came from, and each
    attachment's zip member (None when the bytes are missing)."""
    document["external_id"] = external_id
    for file in document.get("attachments", ()):
        file["member"] = attachment_member(file["id"]) if file["missing"] is None else None
    return document


def project_document(project: Project) -> dict[str, Any]:
    """A project as the archive holds it (its chat and file counts are not kept: they follow)."""
    return {
        "id": project.id,
        "name": project.name,
        "instructions": project.instructions,
        "archived": project.archived,
        "local_only": project.local_only,
        "created_at": iso(project.created_at),
        "updated_at": iso(project.updated_at),
    }
