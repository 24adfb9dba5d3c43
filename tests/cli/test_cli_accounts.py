"""``causerie users`` and ``causerie keys`` on a real database (in this process, through click's
runner), ``serve`` and ``chat`` as real processes, and the rule that a network address needs an
admin account first."""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import openai
import pytest
from click.testing import CliRunner

from causerie.auth.accounts import SIGNUP_POLICIES, Accounts
from causerie.cli import main
from causerie.cli.accounts import SIGNUP_CHOICES
from causerie.storage import Database
from causerie.storage.audit import AuditLog
from causerie.storage.usage import UsageLedger
from causerie.storage.users import Limits
from tests.conftest import Server, free_port, sqlite_server_with
from tests.helpers import ENGINE_THREADS

pytestmark = pytest.mark.slow  # servers of its own (conftest.py: two tiers)

KEY = re.compile(r"^csk-([0-9a-f]+)-(\S+)$")


@dataclass(frozen=True)
class Done:
    """What a command did: its exit code and its two output streams."""

    returncode: int
    stdout: str
    stderr: str


def causerie(data_dir: Path, *args: str, stdin: str | None = None, **settings: str) -> Done:
    """Run ``causerie ARGS`` on the data directory's own SQLite database. The account commands
    run in this process through click's runner (the same entry point, no interpreter start-up);
    ``serve`` and ``chat`` run as real processes."""
    env = {
        "CAUSERIE_DATA_DIR": str(data_dir),
        "CAUSERIE_DATABASE_URL": f"sqlite:///{data_dir / 'causerie.db'}",
        "CAUSERIE_THREADS": str(ENGINE_THREADS),
        **settings,
    }
    if args[0] in ("serve", "chat"):
        done = subprocess.run(
            [sys.executable, "-m", "causerie", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            timeout=300,
        )
        return Done(done.returncode, done.stdout, done.stderr)
    # An unexpected exception propagates and fails the test: only click's own exits return.
    result = CliRunner().invoke(main, list(args), input=stdin, env=env, catch_exceptions=False)
    return Done(result.exit_code, result.stdout, result.stderr)


def ok(data_dir: Path, *args: str, stdin: str | None = None) -> str:
    done = causerie(data_dir, *args, stdin=stdin)
    assert done.returncode == 0, done.stderr
    return done.stdout


def refused(data_dir: Path, *args: str, stdin: str | None = None) -> str:
    """A command that must fail with a readable message (exit 1, no traceback)."""
    done = causerie(data_dir, *args, stdin=stdin)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.startswith("Error: ") and "Traceback" not in done.stderr
    return done.stderr


def create_user(data_dir: Path, name: str, *, admin: bool = False) -> None:
    flags = ["--admin"] if admin else []
    ok(data_dir, "users", "create", name, *flags, "--password-stdin", stdin="a long password\n")


def create_key(data_dir: Path, user: str, name: str = "laptop") -> tuple[str, str]:
    """``(key id, key)`` as ``keys create`` prints it."""
    done = causerie(data_dir, "keys", "create", "--user", user, "--name", name)
    assert done.returncode == 0, done.stderr
    found = KEY.match(done.stdout.strip())
    assert found, done.stdout
    assert "shown only once" in done.stderr
    return found.group(1), done.stdout.strip()


@contextmanager
def accounts_on(data_dir: Path) -> Iterator[Accounts]:
    database = Database(f"sqlite:///{data_dir / 'causerie.db'}")
    try:
        yield Accounts(database)
    finally:
        database.dispose()


def table(output: str) -> dict[str, list[str]]:
    """Rows of a printed table by their first cell."""
    return {line.split()[0]: line.split() for line in output.splitlines()[1:]}


def test_help_lists_the_account_commands() -> None:
    runner = CliRunner()
    assert {"users", "keys"} <= set(runner.invoke(main, ["--help"]).output.split())
    users_help = runner.invoke(main, ["users", "--help"]).output
    expected = "create list disable enable approve delete reset-password set-role set-limits"
    assert set(
        f"{expected} set-models set-group group-models signup-policy invite audit".split()
    ) <= set(users_help.split())
    assert {"create", "list", "revoke"} <= set(
        runner.invoke(main, ["keys", "--help"]).output.split()
    )
    assert SIGNUP_CHOICES == SIGNUP_POLICIES


def test_create_an_admin_then_list_and_refuse_a_taken_name(tmp_path: Path) -> None:
    created = ok(
        tmp_path, "users", "create", "Alice", "--admin", "--password-stdin", stdin="pw12345678\n"
    )
    assert created == "Created admin alice.\n"
    create_user(tmp_path, "bob")
    rows = table(ok(tmp_path, "users", "list"))
    assert rows["alice"][:4] == ["alice", "admin", "active", "-"]
    assert rows["bob"][:4] == ["bob", "user", "active", "-"]
    taken = refused(tmp_path, "users", "create", "ALICE", "--password-stdin", stdin="pw87654321\n")
    assert "The username 'alice' is taken" in taken
    weak = refused(tmp_path, "users", "create", "carol", "--password-stdin", stdin="short\n")
    assert "at least 8 characters" in weak
    with accounts_on(tmp_path) as accounts:
        assert accounts.sign_in("alice", "pw12345678")[1].is_admin
        assert [a.username for a in accounts.users.all()] == ["alice", "bob"]


def test_a_key_made_with_no_store_leaves_requests_unstored_by_default(tmp_path: Path) -> None:
    create_user(tmp_path, "alice", admin=True)
    done = causerie(tmp_path, "keys", "create", "--user", "alice", "--name", "ui", "--no-store")
    assert done.returncode == 0, done.stderr
    quiet = KEY.match(done.stdout.strip())
    assert quiet
    usual_id, usual = create_key(tmp_path, "alice")
    rows = table(ok(tmp_path, "keys", "list", "--user", "alice"))
    assert rows[f"csk-{quiet.group(1)}-…"][-2] == "no"  # STORES
    assert rows[f"csk-{usual_id}-…"][-2] == "yes"
    with accounts_on(tmp_path) as accounts:
        found = accounts.credentials.key_account(quiet.group(0))
        assert found is not None and found[0].store is False
        kept = accounts.credentials.key_account(usual)
        assert kept is not None and kept[0].store is True


def test_keys_are_printed_once_and_stored_only_as_a_digest(tmp_path: Path) -> None:
    create_user(tmp_path, "alice", admin=True)
    key_id, key = create_key(tmp_path, "alice", "laptop")
    secret = KEY.match(key).group(2)  # type: ignore[union-attr]
    listing = ok(tmp_path, "keys", "list", "--user", "alice")
    assert f"csk-{key_id}-…" in listing and "laptop" in listing and secret not in listing
    assert table(listing)[f"csk-{key_id}-…"][-1] == "no"
    with closing(sqlite3.connect(tmp_path / "causerie.db")) as connection:
        rows = connection.execute("SELECT * FROM api_keys").fetchall()
    assert len(rows) == 1 and not any(secret in str(cell) for cell in rows[0])
    assert hashlib.sha256(secret.encode()).hexdigest() in rows[0]
    with accounts_on(tmp_path) as accounts:
        assert accounts.credentials.key_account(key) is not None
    assert ok(tmp_path, "keys", "revoke", "--user", "alice", key_id).startswith("Revoked")
    assert table(ok(tmp_path, "keys", "list", "--user", "alice"))[f"csk-{key_id}-…"][-1] == "yes"
    with accounts_on(tmp_path) as accounts:
        assert accounts.credentials.key_account(key) is None
    create_user(tmp_path, "bob")  # another user's key id is not found
    assert "not found" in refused(tmp_path, "keys", "revoke", "--user", "bob", key_id)
    assert "no user 'nobody'" in refused(tmp_path, "keys", "create", "--user", "nobody")


def test_disabling_refuses_keys_and_the_last_admin_stays(tmp_path: Path) -> None:
    create_user(tmp_path, "alice", admin=True)
    create_user(tmp_path, "bob")
    _, key = create_key(tmp_path, "bob")
    assert ok(tmp_path, "users", "disable", "bob") == "bob is now disabled.\n"
    with accounts_on(tmp_path) as accounts:
        assert accounts.credentials.key_account(key) is None
    ok(tmp_path, "users", "enable", "bob")
    with accounts_on(tmp_path) as accounts:  # enabling does not bring the revoked keys back
        assert accounts.credentials.key_account(key) is None
    assert "last active admin" in refused(tmp_path, "users", "disable", "alice")
    assert "last active admin" in refused(tmp_path, "users", "set-role", "alice", "user")
    ok(tmp_path, "users", "set-role", "bob", "admin")
    assert table(ok(tmp_path, "users", "list"))["bob"][1] == "admin"


def test_delete_asks_first_erases_and_keeps_the_last_admin(tmp_path: Path) -> None:
    create_user(tmp_path, "alice", admin=True)
    create_user(tmp_path, "bob")
    create_key(tmp_path, "bob")
    assert causerie(tmp_path, "users", "delete", "bob", stdin="n\n").returncode == 1  # aborted
    assert "bob" in table(ok(tmp_path, "users", "list"))
    assert "deleted" in ok(tmp_path, "users", "delete", "bob", stdin="y\n")
    assert "bob" not in table(ok(tmp_path, "users", "list"))
    assert "last active admin" in refused(tmp_path, "users", "delete", "alice", "--yes")
    assert "no user" in refused(tmp_path, "users", "delete", "bob", "--yes").lower()
    with accounts_on(tmp_path) as accounts:
        (event,) = accounts.audit.recent(5, action="user.delete")
        assert (event.actor, event.action, event.target) == ("cli", "user.delete", "bob")


def test_limits_models_groups_policy_invites_and_approval(tmp_path: Path) -> None:
    create_user(tmp_path, "alice", admin=True)
    create_user(tmp_path, "bob")
    ok(tmp_path, "users", "set-limits", "bob", "--tokens-per-day", "1000", "--concurrent", "2")
    ok(tmp_path, "users", "set-limits", "bob", "--concurrent", "none", "--requests-per-minute", "9")
    done = causerie(tmp_path, "users", "set-limits", "bob", "--concurrent", "-3")
    assert done.returncode == 2 and "--concurrent" in done.stderr
    ok(tmp_path, "users", "set-group", "bob", "team")
    ok(tmp_path, "users", "group-models", "team", "default")
    ok(tmp_path, "users", "set-models", "alice", "default", "other")
    assert causerie(tmp_path, "users", "set-models", "alice").returncode == 2  # models or --all
    listing = ok(tmp_path, "users", "list")
    assert "tokens/day 1000, requests/min 9" in listing and "default, other" in listing
    with accounts_on(tmp_path) as accounts:
        bob = accounts.users.by_username("bob")
        assert bob.limits == Limits(1000, 9, None) and bob.group == "team"
        assert accounts.users.allowed_models(bob) == ("default",)
    ok(tmp_path, "users", "set-group", "bob", "--none")
    ok(tmp_path, "users", "set-models", "alice", "--all")
    ok(tmp_path, "users", "reset-password", "bob", "--password-stdin", stdin="new password!\n")

    assert ok(tmp_path, "users", "signup-policy") == "sign-up policy: closed\n"
    assert ok(tmp_path, "users", "signup-policy", "approval") == "sign-up policy: approval\n"
    assert causerie(tmp_path, "users", "signup-policy", "open").returncode == 2
    invite = ok(tmp_path, "users", "invite", "--days", "3").strip()
    assert invite.startswith("/signup?invite=")
    with accounts_on(tmp_path) as accounts:
        assert accounts.users.by_username("bob").group is None
        assert accounts.users.by_username("alice").models is None
        assert accounts.sign_in("bob", "new password!")[1].username == "bob"
        assert accounts.credentials.invite_valid(invite.partition("=")[2])
        assert accounts.sign_up("carol", "carol's password").status == "pending"
    assert "not waiting" in refused(tmp_path, "users", "approve", "bob")
    ok(tmp_path, "users", "approve", "carol")
    assert table(ok(tmp_path, "users", "list"))["carol"][2] == "active"


def test_audit_lists_what_the_commands_did(tmp_path: Path) -> None:
    create_user(tmp_path, "alice", admin=True)
    create_user(tmp_path, "bob")
    key_id, _ = create_key(tmp_path, "bob")
    ok(tmp_path, "keys", "revoke", "--user", "bob", key_id)
    ok(tmp_path, "users", "disable", "bob")
    ok(tmp_path, "users", "signup-policy", "invite")
    ok(tmp_path, "users", "invite")
    events = [line.split()[2:5] for line in ok(tmp_path, "users", "audit").splitlines()[1:]]
    assert [event[1] for event in events] == [
        "invite.create",
        "signup.policy",
        "user.disabled",
        "key.revoke",
        "key.create",
        "user.create",
        "user.create",
    ]
    assert events[3] == ["cli", "key.revoke", "bob"]
    database = Database(f"sqlite:///{tmp_path / 'causerie.db'}")
    keyed = [
        (e.actor, e.action, e.target, e.detail)
        for e in AuditLog(database).recent(50)
        if e.action.startswith("key.")
    ]
    database.dispose()
    # the same shape as the page's (tests/web/test_account_pages.py): actor, action, owner, key id
    assert keyed == [("cli", "key.revoke", "bob", key_id), ("cli", "key.create", "bob", key_id)]
    assert len(ok(tmp_path, "users", "audit", "--limit", "2").splitlines()) == 3


def serve_on_network(data_dir: Path) -> Done:
    """``serve --host 0.0.0.0`` with a model that does not exist: were the admin check missing,
    serve would fail on the model rather than start listening."""
    port = str(free_port())
    return causerie(data_dir, "serve", "--host", "0.0.0.0", "--port", port, "--model", "nothing")


def test_serve_on_a_network_address_needs_an_active_admin(tmp_path: Path) -> None:
    refusal = serve_on_network(tmp_path)
    assert refusal.returncode == 1 and "Traceback" not in refusal.stderr
    assert refusal.stderr.startswith(
        "Error: Refusing to listen on 0.0.0.0: the database has no active admin account"
    )
    assert "`causerie users create NAME --admin`" in refusal.stderr
    create_user(tmp_path, "bob")  # accounts, but no admin: still refused
    assert "no active admin account" in serve_on_network(tmp_path).stderr
    create_user(tmp_path, "alice", admin=True)
    past_the_check = serve_on_network(tmp_path)
    assert past_the_check.returncode != 0 and "model 'nothing' not found" in past_the_check.stderr
    assert "no active admin" not in past_the_check.stderr


def api_client(server: Server, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.api_url, api_key=key, max_retries=0)


def test_keys_from_the_cli_work_with_the_openai_client_until_revoked(
    tmp_path: Path, model_dir: Path
) -> None:
    create_user(tmp_path, "alice", admin=True)
    create_user(tmp_path, "bob")
    alice_id, alice_key = create_key(tmp_path, "alice")
    _, bob_key = create_key(tmp_path, "bob")
    with contextmanager(sqlite_server_with)(tmp_path, model_dir) as server:
        with api_client(server, alice_key) as alice, api_client(server, bob_key) as bob:
            assert [model.id for model in alice.models.list()]
            assert bob.models.list().data
            assert httpx.get(f"{server.api_url}/models").status_code == 401
            with (
                api_client(server, "unused") as anonymous,
                pytest.raises(openai.AuthenticationError),
            ):
                anonymous.models.list()

            ok(tmp_path, "keys", "revoke", "--user", "alice", alice_id)
            with pytest.raises(openai.AuthenticationError):
                alice.models.list()

            ok(tmp_path, "users", "disable", "bob")
            with pytest.raises(openai.AuthenticationError):
                bob.models.list()


def test_the_terminal_is_held_to_the_users_quotas(tmp_path: Path, model_dir: Path) -> None:
    """``causerie chat --user`` goes through the same admission as the API and the page: the
    reply is cut at what is left of today's tokens, and once they are spent, it is refused."""
    create_user(tmp_path, "bob")
    ok(tmp_path, "users", "set-limits", "bob", "--tokens-per-day", "60")
    script = "Count from one to fifty, in words.\nWhat is the capital of France?\n/quit\n"
    done = causerie(
        tmp_path, "chat", "--user", "bob", stdin=script, CAUSERIE_MODELS_DIR=str(model_dir)
    )
    assert done.returncode == 0, done.stderr
    replies = [line for line in done.stdout.splitlines() if line.startswith("assistant> ")]
    assert len(replies) == 1
    assert "You have used your 60 tokens for today." in done.stderr
    with accounts_on(tmp_path) as accounts:
        bob = accounts.users.by_username("bob")
    database = Database(f"sqlite:///{tmp_path / 'causerie.db'}")
    try:
        [line] = UsageLedger(database).lines(since=datetime.now(UTC).date(), user_id=bob.id)
        assert line.requests == 1 and 0 < line.completion_tokens <= 60
    finally:
        database.dispose()
