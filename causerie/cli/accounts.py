"""``causerie users`` and ``causerie keys``: accounts and API keys from the server's shell.

Every command opens the configured database, brings its schema up to date, and acts through
``auth.accounts.Accounts`` as the actor ``cli``, so each change lands in the audit log. The
commands only parse and print; the rules (password strength, the last admin, sign-up policy)
live in ``auth/`` and ``storage/``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

import click

from causerie.cli.options import load_settings
from causerie.config import Settings
from causerie.errors import CauserieError, InvalidRequestError

if TYPE_CHECKING:  # imported where used, so `causerie --help` stays quick
    from causerie.auth.accounts import Accounts
    from causerie.storage.users import Account, Limits, Role, Status

ACTOR = "cli"
SIGNUP_CHOICES = ("closed", "invite", "approval")  # auth.accounts.SIGNUP_POLICIES
ADMIN_MISSING = (
    "Refusing to listen on {host}: the database has no active admin account, so nobody could "
    "manage who may use this server. Create one first with `causerie users create NAME --admin`, "
    "or listen on 127.0.0.1 (the default)."
)


def _settings() -> Settings:
    return load_settings()


@contextmanager
def open_accounts(settings: Settings | None = None) -> Iterator[Accounts]:
    """The account service on the configured, migrated database; errors become click errors."""
    from causerie.auth.accounts import Accounts
    from causerie.storage.db import Database

    url = (settings or _settings()).resolved_database_url()
    try:
        database = Database(url)
        try:
            database.migrate()
            yield Accounts(database)
        finally:
            database.dispose()
    except CauserieError as exc:
        raise click.ClickException(exc.message) from exc


def require_an_admin(settings: Settings) -> None:
    """Refuse to serve a network address before an active admin account exists."""
    with open_accounts(settings) as accounts:
        if accounts.users.count_admins() == 0:
            raise click.ClickException(ADMIN_MISSING.format(host=settings.host))


def read_password(from_stdin: bool) -> str:
    """The new password: one line of standard input, or typed twice without echo."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


def echo_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Columns padded to their widest cell, the last one left ragged."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        click.echo("  ".join(cells).rstrip())


def moment(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M")


def describe_limits(limits: Limits) -> str:
    parts = [
        f"{label} {value}"
        for label, value in (
            ("tokens/day", limits.tokens_per_day),
            ("requests/min", limits.requests_per_minute),
            ("concurrent", limits.concurrent_requests),
        )
        if value is not None
    ]
    return ", ".join(parts) or "site defaults"


def describe_models(account: Account) -> str:
    if account.models is not None:
        return ", ".join(account.models) or "(none)"
    return "group's" if account.group else "all"


def models_or_all(models: tuple[str, ...], every: bool) -> list[str] | None:
    """``--all`` lifts the restriction (None); otherwise the listed models, at least one."""
    if every and models:
        raise click.UsageError("Give model names or --all, not both.")
    if not every and not models:
        raise click.UsageError("Give at least one model name, or --all for every model.")
    return None if every else list(models)


# -- causerie users ---------------------------------------------------------------------------

password_stdin_option = click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)


@click.group()
def users() -> None:
    """Accounts: create, list, approve, disable, limits and models (docs/accounts.md)."""


@users.command("create")
@click.argument("name")
@click.option("--admin", is_flag=True, help="An administrator (the first one adopts local data).")
@password_stdin_option
def users_create(name: str, admin: bool, password_stdin: bool) -> None:
    """Create an active account. The first account turns the server multi-user."""
    password = read_password(password_stdin)
    with open_accounts() as accounts:
        account = accounts.create_user(ACTOR, name, password, role="admin" if admin else "user")
    click.echo(f"Created {account.role} {account.username}.")


@users.command("list")
def users_list() -> None:
    """Every account with its role, status, group, limits and models."""
    with open_accounts() as accounts:
        everyone = accounts.users.all()
    rows = [
        (
            a.username,
            a.role,
            a.status,
            a.group or "-",
            describe_limits(a.limits),
            describe_models(a),
        )
        for a in everyone
    ]
    echo_table(("USERNAME", "ROLE", "STATUS", "GROUP", "LIMITS", "MODELS"), rows)


def _set_status(name: str, status: Status, *, only_from: Status | None = None) -> None:
    with open_accounts() as accounts:
        account = accounts.users.by_username(name)
        if only_from is not None and account.status != only_from:
            raise InvalidRequestError(f"{account.username} is not waiting for approval.")
        account = accounts.set_status(ACTOR, account.id, status)
    click.echo(f"{account.username} is now {account.status}.")


@users.command("disable")
@click.argument("name")
def users_disable(name: str) -> None:
    """Disable an account: its sessions end and its API keys are revoked at once."""
    _set_status(name, "disabled")


@users.command("enable")
@click.argument("name")
def users_enable(name: str) -> None:
    """Enable a disabled account again (its old keys stay revoked)."""
    _set_status(name, "active")


@users.command("approve")
@click.argument("name")
def users_approve(name: str) -> None:
    """Approve an account that signed up under the approval policy."""
    _set_status(name, "active", only_from="pending")


@users.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def users_delete(name: str, yes: bool) -> None:
    """Delete an account and everything it stored, for good (usage and audit stay)."""
    with open_accounts() as accounts:
        account = accounts.users.by_username(name)
        if not yes:
            click.confirm(
                f"Delete {account.username} and all their conversations, files and keys?",
                abort=True,
            )
        accounts.delete_user(ACTOR, account.id)
    click.echo(f"{account.username} and everything they stored are deleted.")


@users.command("reset-password")
@click.argument("name")
@password_stdin_option
def users_reset_password(name: str, password_stdin: bool) -> None:
    """Set a new password; every session of the account ends."""
    password = read_password(password_stdin)
    with open_accounts() as accounts:
        account = accounts.users.by_username(name)
        accounts.reset_password(ACTOR, account.id, password)
    click.echo(f"New password set for {account.username}; their sessions ended.")


@users.command("set-role")
@click.argument("name")
@click.argument("role", type=click.Choice(["admin", "user"]))
def users_set_role(name: str, role: Role) -> None:
    """Make an account an admin, or a user again (the last active admin stays one)."""
    with open_accounts() as accounts:
        account = accounts.set_role(ACTOR, accounts.users.by_username(name).id, role)
    click.echo(f"{account.username} is now {account.role}.")


def limit_value(current: int | None, given: str | None, option: str) -> int | None:
    """An option's new limit: unchanged when not given, None for ``none``, else a count."""
    if given is None:
        return current
    if given.strip().lower() == "none":
        return None
    try:
        value = int(given)
    except ValueError:
        value = 0
    if value < 1:
        raise click.BadParameter("a whole number from 1, or none", param_hint=option)
    return value


@users.command("set-limits")
@click.argument("name")
@click.option("--tokens-per-day", metavar="N|none", help="Tokens (prompt + reply) a day.")
@click.option("--requests-per-minute", metavar="N|none", help="API and chat requests a minute.")
@click.option("--concurrent", metavar="N|none", help="Requests running at the same time.")
def users_set_limits(
    name: str, tokens_per_day: str | None, requests_per_minute: str | None, concurrent: str | None
) -> None:
    """Set an account's own limits; options left out keep their value, none lifts a limit
    (the site defaults CAUSERIE_DEFAULT_* then apply)."""
    from causerie.storage.users import Limits

    with open_accounts() as accounts:
        account = accounts.users.by_username(name)
        old = account.limits
        limits = Limits(
            limit_value(old.tokens_per_day, tokens_per_day, "--tokens-per-day"),
            limit_value(old.requests_per_minute, requests_per_minute, "--requests-per-minute"),
            limit_value(old.concurrent_requests, concurrent, "--concurrent"),
        )
        account = accounts.set_limits(ACTOR, account.id, limits)
    click.echo(f"{account.username}: {describe_limits(account.limits)}.")


@users.command("set-models")
@click.argument("name")
@click.argument("models", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Lift the account's own restriction.")
def users_set_models(name: str, models: tuple[str, ...], every: bool) -> None:
    """Restrict an account to these models (ids or aliases), or --all to lift that."""
    chosen = models_or_all(models, every)
    with open_accounts() as accounts:
        account = accounts.set_models(ACTOR, accounts.users.by_username(name).id, chosen)
    click.echo(f"{account.username}: models {describe_models(account)}.")


@users.command("set-group")
@click.argument("name")
@click.argument("group", required=False)
@click.option("--none", "no_group", is_flag=True, help="Take the account out of its group.")
def users_set_group(name: str, group: str | None, no_group: bool) -> None:
    """Put an account in a group (whose model list it follows), or --none."""
    if (group is None) == (not no_group):
        raise click.UsageError("Give a group name or --none.")
    with open_accounts() as accounts:
        account = accounts.set_group(ACTOR, accounts.users.by_username(name).id, group)
    click.echo(f"{account.username}: group {account.group or '-'}.")


@users.command("group-models")
@click.argument("group")
@click.argument("models", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Let the group use every model.")
def users_group_models(group: str, models: tuple[str, ...], every: bool) -> None:
    """Restrict a group's members (those without a list of their own) to these models."""
    chosen = models_or_all(models, every)
    with open_accounts() as accounts:
        accounts.set_group_models(ACTOR, group, chosen)
    click.echo(f"group {group}: models {', '.join(chosen) if chosen else 'all'}.")


@users.command("signup-policy")
@click.argument("policy", type=click.Choice(SIGNUP_CHOICES), required=False)
def users_signup_policy(policy: str | None) -> None:
    """Show or set who may sign up: closed, invite (links from admins) or approval."""
    with open_accounts() as accounts:
        if policy is not None:
            accounts.set_signup_policy(ACTOR, policy)
        current = accounts.signup_policy()
    click.echo(f"sign-up policy: {current}")


@users.command("invite")
@click.option("--days", type=click.IntRange(1, 365), default=7, show_default=True)
def users_invite(days: int) -> None:
    """Create a sign-up link, valid for --days and usable once, whatever the policy."""
    with open_accounts() as accounts:
        token = accounts.create_invite(ACTOR, ACTOR, days=days)
    click.echo(f"/signup?invite={token}")
    click.echo(
        f"Valid {days} days, for one account. Prefix it with the server's address.", err=True
    )


@users.command("audit")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
def users_audit(limit: int) -> None:
    """Recent audit events, newest first: admin actions and sign-ins."""
    with open_accounts() as accounts:
        events = accounts.audit.recent(limit)
    rows = [(moment(e.at), e.actor, e.action, e.target, e.ip, e.detail) for e in events]
    echo_table(("AT (UTC)", "ACTOR", "ACTION", "TARGET", "IP", "DETAIL"), rows)


# -- causerie keys ----------------------------------------------------------------------------

user_option = click.option("--user", "username", required=True, help="Whose keys.")


@click.group()
def keys() -> None:
    """API keys for the OpenAI-compatible API (the key text is shown only at creation)."""


@keys.command("create")
@user_option
@click.option("--name", default="API key", show_default=True, help="What the key is for.")
@click.option(
    "--store/--no-store",
    default=True,
    show_default=True,
    help="Whether a request through the key that does not say `store` is kept as a "
    "conversation (--no-store: only those that send `store: true` are).",
)
def keys_create(username: str, name: str, store: bool) -> None:
    """Create a key and print it once."""
    with open_accounts() as accounts:
        account = accounts.users.by_username(username)
        info, key = accounts.create_key(ACTOR, account, name, store=store)
    click.echo(key)
    click.echo(f"This key ({info.name}, id {info.id}) is shown only once: store it now.", err=True)


@keys.command("list")
@user_option
def keys_list(username: str) -> None:
    """The user's keys, newest first (their public part only)."""
    with open_accounts() as accounts:
        found = accounts.credentials.keys(accounts.users.by_username(username).id)
    rows = [
        (
            k.hint,
            k.name,
            moment(k.created_at),
            moment(k.last_used_at),
            "yes" if k.store else "no",
            "yes" if k.revoked else "no",
        )
        for k in found
    ]
    echo_table(("KEY", "NAME", "CREATED", "LAST USED", "STORES", "REVOKED"), rows)


def key_id_of(text: str) -> str:
    """The id from ``<id>``, the hint ``csk-<id>-…`` or a whole key."""
    from causerie.storage.credentials import KEY_PREFIX

    return text.strip().removeprefix(KEY_PREFIX).partition("-")[0]


@keys.command("revoke")
@user_option
@click.argument("key_id")
def keys_revoke(username: str, key_id: str) -> None:
    """Revoke a key (by its id, as `keys list` shows it); the next request with it fails."""
    with open_accounts() as accounts:
        account = accounts.users.by_username(username)
        info = accounts.revoke_key(ACTOR, account, key_id_of(key_id))
    click.echo(f"Revoked {info.hint} ({info.name}).")
