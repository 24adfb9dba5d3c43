"""The ``causerie`` command: one module a concept (serve/chat/models, doctor, providers,
users/keys, import, export). Commands parse and print; the work is in the packages they call."""

from __future__ import annotations

import click

from causerie import __version__
from causerie.cli.accounts import keys, users
from causerie.cli.doctor import doctor
from causerie.cli.exports import export_archive
from causerie.cli.imports import import_export
from causerie.cli.models import models
from causerie.cli.providers import providers
from causerie.cli.serve import chat, serve


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="causerie")
def main() -> None:
    """Causerie: a self-hosted ChatGPT.

    Every option can also be set with an environment variable CAUSERIE_<OPTION>
    (for example CAUSERIE_PORT=9000). See docs/configuration.md for the full list.
    """


for command in (serve, chat, models, doctor, providers, users, keys, import_export, export_archive):
    main.add_command(command)

__all__ = ["main"]
