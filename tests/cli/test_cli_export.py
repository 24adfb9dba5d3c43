"""``causerie export`` through click's runner on real SQLite databases: one account's archive
(``--user``), every account's (``--all``), read back by ``causerie import`` into an empty
database, account by account (``--from-account``)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from causerie.cli import main
from causerie.storage import Database
from causerie.storage.preferences import CUSTOM_INSTRUCTIONS, Preferences
from causerie.storage.users import UserStore
from tests.archive.chatgpt_factory import export_zip, rich_conversation
from tests.chat.archives import export_archive, members, validate
from tests.chat.imports import ASSETS, import_bytes


def run(folder: Path, *args: str) -> Result:
    env = {
        "CAUSERIE_DATA_DIR": str(folder),
        "CAUSERIE_DATABASE_URL": f"sqlite:///{folder / 'causerie.db'}",
    }
    return CliRunner().invoke(main, list(args), env=env)


def database(folder: Path) -> Database:
    folder.mkdir(exist_ok=True)
    db = Database(f"sqlite:///{folder / 'causerie.db'}")
    db.migrate()
    return db


def test_export_then_import_into_an_empty_server(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    db = database(old)
    users = UserStore(db)
    alice = users.create("alice", "x")
    bob = users.create("bob", "x")
    import_bytes(db, export_zip([rich_conversation()], assets=ASSETS), alice.id)
    Preferences(db, bob.id).set(CUSTOM_INSTRUCTIONS, "Answer in French.")
    archive = tmp_path / "alice.zip"

    unsaid = run(old, "export", "-o", str(archive))
    assert unsaid.exit_code != 0 and "say whose data" in unsaid.output
    done = run(old, "export", "--user", "alice", "-o", str(archive))
    assert done.exit_code == 0, done.output
    assert "Exported alice" in done.stdout
    validate(archive.read_bytes())

    everyone = tmp_path / "all.zip"
    assert run(old, "export", "--all", "-o", str(everyone)).exit_code == 0
    validate(everyone.read_bytes())

    target = database(new)
    new_users = UserStore(target)
    new_alice, new_bob = new_users.create("alice", "x"), new_users.create("bob", "x")
    refused = run(new, "import", str(everyone), "--user", "alice")
    assert refused.exit_code == 2 and "holds 2 accounts" in refused.output
    for name in ("alice", "bob"):
        args = ("import", str(everyone), "--user", name, "--from-account", name)
        result = run(new, *args)
        assert result.exit_code == 0, result.output
        assert "from a Causerie archive" in result.stdout
    assert members(export_archive(target, new_alice.id, "alice")) == members(
        export_archive(db, alice.id, "alice")
    )
    assert Preferences(target, new_bob.id).get(CUSTOM_INSTRUCTIONS) == "Answer in French."
    db.dispose()
    target.dispose()
