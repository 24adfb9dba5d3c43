"""What the commands share: settings from the environment with the command line on top, and
the options several commands take."""

from __future__ import annotations

from typing import Any

import click

from causerie.config import Settings


def load_settings(**overrides: Any) -> Settings:
    """Environment settings with the command line's explicit options on top."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except Exception as exc:  # pydantic names the bad field
        raise click.UsageError(str(exc)) from exc


model_option = click.option(
    "--model",
    help="GGUF file, or a file name in the models directory (default: bundled Gemma 3 270M).",
)
database_option = click.option(
    "--database-url", help="SQLAlchemy URL (default: SQLite in the data directory)."
)
