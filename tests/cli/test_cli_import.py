"""``causerie import FILE --user NAME`` through click's runner on a real SQLite database: the
summary, idempotence, whose conversations, and bad input refused with nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from causerie.cli import main
from causerie.storage import ConversationStore, Database
from causerie.storage.users import UserStore
from tests.archive.chatgpt_factory import bulk_conversations, export_zip, rich_conversation
from tests.chat.imports import ASSETS, row_counts


def run(tmp_path: Path, *args: str) -> Result:
    env = {
        "CAUSERIE_DATA_DIR": str(tmp_path),
        "CAUSERIE_DATABASE_URL": f"sqlite:///{tmp_path / 'causerie.db'}",
    }
    return CliRunner().invoke(main, ["import", *args], env=env)


def database(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'causerie.db'}")
    db.migrate()
    return db


@pytest.mark.parametrize(
    ("layout", "member"), [("legacy", "conversations.json"), ("sharded", "conversations-000.json")]
)
def test_import_prints_the_summary_and_again_adds_nothing(
    tmp_path: Path, layout: str, member: str
) -> None:
    broken = {"conversation_id": "broken", "title": "A folder"}
    export = tmp_path / "export.zip"
    items = [rich_conversation(), broken, *bulk_conversations(2, 4)]
    export.write_bytes(export_zip(items, layout=layout, assets=ASSETS))
    done = run(tmp_path, str(export))
    assert done.exit_code == 0, done.output
    assert "Imported 3 of 4 conversations from a ChatGPT export: 3 new" in done.stdout
    assert "attachments: 1 stored, 1 missing" in done.stdout
    assert f"{member} #2 'A folder' broken: has no mapping" in done.stdout
    assert "- I live in Lyon. Answer briefly." in done.stdout
    db = database(tmp_path)
    before = row_counts(db)
    assert before["conversations"] == 3
    again = run(tmp_path, str(export))
    assert "0 new, 0 updated, 3 already here" in again.stdout
    assert row_counts(db) == before
    db.dispose()


def test_import_goes_to_the_named_account(tmp_path: Path) -> None:
    db = database(tmp_path)
    alice = UserStore(db).create("alice", "x" * 60)
    export = tmp_path / "conversations.json"
    export.write_text(json.dumps(list(bulk_conversations(2, 4))))
    refused = run(tmp_path, str(export))
    assert refused.exit_code == 2 and "--user NAME" in refused.output
    assert run(tmp_path, str(export), "--user", "nobody").exit_code == 2
    assert row_counts(db)["conversations"] == 0
    done = run(tmp_path, str(export), "--user", "alice")
    assert done.exit_code == 0, done.output
    assert len(ConversationStore(db, alice.id).list_recent()) == 2
    db.dispose()


def test_bad_input_is_a_clear_error_and_nothing_is_written(tmp_path: Path) -> None:
    good = tmp_path / "good.zip"
    good.write_bytes(export_zip(list(bulk_conversations(2, 4))))
    assert run(tmp_path, str(good)).exit_code == 0
    db = database(tmp_path)
    before = row_counts(db)
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(good.read_bytes()[:-100])
    done = run(tmp_path, str(truncated))
    assert done.exit_code == 2
    assert "truncated or damaged" in done.output and "Nothing was imported." in done.output
    assert row_counts(db) == before
    db.dispose()
