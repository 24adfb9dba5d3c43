"""An archive written while its owner deletes a conversation: the archive stays whole (a valid
zip, its manifest listing only what it holds) and leaves the deleted conversation out."""

from __future__ import annotations

import io
import json
import zipfile

from causerie.archive.causerie_zip import MANIFEST
from causerie.chat.archive_export import Owner, archive_chunks
from causerie.storage import ConversationStore, Database
from causerie.storage.account_data import AccountData
from tests.archive.chatgpt_factory import bulk_conversations, export_zip, rich_conversation
from tests.chat.archives import validate
from tests.chat.imports import ASSETS, import_bytes

OWNER = "race-owner"


def test_a_conversation_deleted_while_the_archive_is_written_is_left_out(
    database: Database,
) -> None:
    items = [rich_conversation(), *bulk_conversations(3, 4)]
    import_bytes(database, export_zip(items, assets=ASSETS), OWNER)
    chunks = archive_chunks(database, [Owner(OWNER, None)])
    written = [next(chunks)]  # the first conversation (or its first attachment) is out
    listed = AccountData(database, OWNER).conversation_ids()
    assert len(listed) == 4
    gone = listed[-1]  # the archive's order: the last is still to come
    ConversationStore(database, OWNER).delete(gone)
    written += list(chunks)
    data = b"".join(written)
    validate(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read(MANIFEST))
    kept = manifest["accounts"][0]["conversations"]
    assert len(kept) == 3 and f"conversations/{gone}.json" not in names
    assert all(member in names for member in kept)
