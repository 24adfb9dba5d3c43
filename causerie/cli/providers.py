"""``causerie providers``: the providers file's upstreams and aliases, and their health."""

from __future__ import annotations

import sys
from typing import Any

import click

from causerie.cli.options import load_settings
from causerie.errors import ConfigurationError


@click.group()
def providers() -> None:
    """Remote providers and model aliases from the providers file (docs/providers.md)."""


def load_providers_or_fail() -> Any:
    from causerie.providers.config import load_providers

    try:
        return load_providers(load_settings())
    except ConfigurationError as exc:
        raise click.ClickException(exc.message) from exc


@providers.command("list")
def providers_list() -> None:
    """Show the configured providers and aliases (API keys are never printed)."""
    from causerie.providers.check import describe

    config = load_providers_or_fail()
    click.echo(f"providers file: {config.source or 'none'}")
    click.echo("local\tthe in-process model (privacy local)")
    for entry in config.providers:
        click.echo(entry.name)
        for field, value in describe(entry):
            click.echo(f"  {field:<9} {value}")
    for alias, targets in config.aliases.items():
        click.echo(f"alias {alias} -> {', '.join(targets)}")


@providers.command("check")
def providers_check() -> None:
    """Ask every configured upstream for its models; exit 1 when one is unreachable."""
    import asyncio

    from causerie.providers.check import check_all

    config = load_providers_or_fail()
    results = asyncio.run(check_all(config))
    for health in results:
        click.echo(f"{health.name}\t{'ok' if health.reachable else 'FAILED'}\t{health.detail}")
    if not all(health.reachable for health in results):
        sys.exit(1)
