"""``causerie doctor``: the checks of ``causerie/doctor.py``, printed, with an exit status."""

from __future__ import annotations

import sys
from typing import Any

import click

from causerie.cli.options import database_option, load_settings, model_option


@click.command()
@model_option
@database_option
def doctor(**options: Any) -> None:
    """Check the installation: llama.cpp build and CPU, model, database, providers.

    Exits 1 when it finds a problem; each problem says what to do.
    """
    from causerie.doctor import diagnose, render

    settings = load_settings(**options)
    sys.exit(render(diagnose(settings), click.echo))
