"""``causerie export``: one account's data (or every account's, for an administrator moving a
server) as Causerie's archive. The work is ``chat.archive_export``'s; this parses and writes."""

from __future__ import annotations

import os
from pathlib import Path

import click

from causerie.cli.options import database_option, load_settings
from causerie.errors import CauserieError


@click.command("export")
@click.option("--user", "username", help="Whose data (needed once there are accounts).")
@click.option("--all", "every", is_flag=True, help="Every account's data, in one archive.")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="The zip file to write.",
)
@database_option
def export_archive(
    username: str | None, every: bool, output: Path, database_url: str | None
) -> None:
    """Export conversations (every branch, attachments, feedback, share links), custom
    instructions, private names and projects as a Causerie archive zip (docs/archive.md),
    which `causerie import` reads back."""
    from causerie.chat.archive_export import archive_chunks, owners_to_export
    from causerie.storage.db import Database

    if every and username is not None:
        raise click.UsageError("Give --user NAME or --all, not both.")
    settings = load_settings(database_url=database_url)
    database = Database(settings.resolved_database_url())
    partial = output.with_name(f".{output.name}.partial")
    try:
        database.migrate()
        owners = owners_to_export(database, username, every)
        with partial.open("wb") as file:
            for chunk in archive_chunks(database, owners):
                file.write(chunk)
        os.replace(partial, output)
    except CauserieError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        partial.unlink(missing_ok=True)
        database.dispose()
    names = ", ".join(owner.username or "the local user" for owner in owners)
    click.echo(f"Exported {names} to {output}.")
