"""The ``causerie`` command: serve, chat, models, doctor, providers, users, keys. Parsing only."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from causerie import __version__
from causerie.cli_accounts import keys, require_an_admin, users
from causerie.config import Settings, is_loopback
from causerie.errors import ConfigurationError


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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="causerie")
def main() -> None:
    """Causerie: a self-hosted ChatGPT.

    Every option can also be set with an environment variable CAUSERIE_<OPTION>
    (for example CAUSERIE_PORT=9000). See docs/configuration.md for the full list.
    """


@main.command()
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default 8000).")
@model_option
@database_option
@click.option("--context-size", type=int, help="Context window in tokens (default 4096).")
@click.option("--threads", type=int, help="CPU threads for llama.cpp (default: all usable).")
def serve(**options: Any) -> None:
    """Serve the web chat and the OpenAI-compatible API."""
    import uvicorn

    from causerie.app import create_app

    settings = load_settings(**options)
    if not is_loopback(settings.host):  # a network address: only with accounts to guard it
        require_an_admin(settings)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    app = create_app(settings)
    try:
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            forwarded_allow_ips=settings.trusted_proxies,  # None: uvicorn's own default
        )
    except ConfigurationError as exc:
        raise click.ClickException(exc.message) from exc


@main.command()
@model_option
@database_option
@click.option("--conversation", "conversation_id", help="Continue a stored conversation by id.")
@click.option("--user", "username", help="Whose chat (needed once the server has accounts).")
def chat(conversation_id: str | None, username: str | None, **options: Any) -> None:
    """Chat in the terminal (saved to the same history as the web chat).

    Enter sends. End a line with a backslash to continue on the next line, or wrap a
    block in triple quotes (\"\"\"). Commands: /new starts a new conversation, /quit leaves.
    """
    from causerie.terminal import run_terminal_chat

    settings = load_settings(**options)
    try:
        run_terminal_chat(settings, conversation_id, username)
    except ConfigurationError as exc:
        raise click.ClickException(exc.message) from exc


@main.command()
@model_option
def models(**options: Any) -> None:
    """List the models this configuration serves."""
    from causerie.providers.local import LocalProvider

    settings = load_settings(**options)
    try:
        provider = LocalProvider.from_settings(settings)
    except ConfigurationError as exc:
        raise click.ClickException(exc.message) from exc
    for info in provider.models():
        click.echo(f"{info.id}\tcontext {info.context_window}\t{provider.model.path}")
    import asyncio

    asyncio.run(provider.close())


@main.command()
@model_option
@database_option
def doctor(**options: Any) -> None:
    """Check the installation: llama.cpp build and CPU, model, database, providers.

    Exits 1 when it finds a problem; each problem says what to do.
    """
    from causerie.doctor import diagnose, render

    settings = load_settings(**options)
    sys.exit(render(diagnose(settings), click.echo))


@main.group()
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


main.add_command(users)
main.add_command(keys)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
