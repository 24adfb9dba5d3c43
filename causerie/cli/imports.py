"""``causerie import FILE``: another assistant's export into one user's conversations, with a
progress bar, then the summary. The work is ``chat.importer``'s; this parses and prints."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from causerie.cli.options import database_option, load_settings
from causerie.errors import CauserieError, ImportFormatError, NotFoundError
from causerie.types import LOCAL_OWNER

if TYPE_CHECKING:  # imported where used, so `causerie --help` stays quick
    from causerie.chat.importer import ImportSummary, Progress
    from causerie.storage.db import Database

SOURCES = {
    "chatgpt": "a ChatGPT export",
    "openwebui": "an Open WebUI export",
    "causerie": "a Causerie archive",
}
INSTRUCTIONS_SHOWN = 300  # characters of each custom instructions text printed


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--user", "username", help="Whose conversations (needed once there are accounts).")
@click.option(
    "--from-account",
    "account",
    help="Which account of a Causerie archive of several (causerie export --all) to import.",
)
@database_option
def import_export(
    file: Path, username: str | None, account: str | None, database_url: str | None
) -> None:
    """Import conversations from FILE: a ChatGPT export (the zip, or its conversations.json),
    an Open WebUI chat export, or a Causerie archive (causerie export). Importing the same
    export again adds only what changed."""
    from causerie.chat.import_queue import import_limits
    from causerie.chat.importer import run_import
    from causerie.storage.db import Database
    from causerie.storage.imports import ImportStore

    settings = load_settings(database_url=database_url)
    database = Database(settings.resolved_database_url())
    try:
        database.migrate()
        owner = _owner(database, username)
        with _progress_bar() as progress:
            summary = run_import(
                file,
                ImportStore(database, owner),
                progress,
                limits=import_limits(settings),
                max_attachment_bytes=settings.max_upload_bytes,
                account=account,
            )
    except ImportFormatError as exc:
        raise click.BadParameter(f"{exc.message} Nothing was imported.", param_hint="FILE") from exc
    except CauserieError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        database.dispose()
    for line in describe(summary):
        click.echo(line)


def _owner(database: Database, username: str | None) -> str:
    """The account's id; without ``--user`` on a server without accounts, the local owner."""
    from causerie.storage.users import UserStore

    users = UserStore(database)
    if username is None:
        if users.any():
            raise click.UsageError(
                "This server has accounts: say whose import this is with --user NAME."
            )
        return LOCAL_OWNER
    try:
        return users.by_username(username).id
    except NotFoundError as exc:
        raise click.BadParameter(f"no account named {username!r}", param_hint="--user") from exc


@contextmanager
def _progress_bar() -> Iterator[Progress]:
    """A rich progress bar on standard error, gone once the import is done."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    columns = ("Importing", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("import", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


def describe(summary: ImportSummary) -> list[str]:
    """The summary as lines for a terminal."""
    source = SOURCES.get(summary.source, summary.source)
    lines = [
        f"Imported {summary.imported} of {summary.total} conversations from {source}: "
        f"{summary.created} new, {summary.updated} updated, {summary.unchanged} already here.",
        f"  messages: {summary.messages} new, {summary.hidden} kept hidden "
        "(system prompts, custom instructions, nodes the source never showed)",
        f"  attachments: {summary.attachments_stored} stored, "
        f"{summary.attachments_missing} missing from the export (shown as placeholders)",
    ]
    if summary.skipped:
        lines.append(f"  skipped {len(summary.skipped)}:")
        for item in summary.skipped:
            name = " ".join(
                part
                for part in (item.where, repr(item.title) if item.title else "", item.external_id)
                if part
            )
            lines.append(f"    {name}: {item.reason}")
    if summary.custom_instructions:
        lines.append(
            "  custom instructions found (kept with their conversations, not added as "
            "messages; to use them, paste them into Settings › Custom instructions):"
        )
        for text in summary.custom_instructions:
            shown = textwrap.shorten(" ".join(text.split()), INSTRUCTIONS_SHOWN)
            lines.append(f"    - {shown}")
    lines += [f"  note: {warning}" for warning in summary.warnings]
    return lines
