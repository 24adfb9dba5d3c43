"""``causerie serve`` and ``causerie chat``: the model at work."""

from __future__ import annotations

import logging
from typing import Any

import click

from causerie.cli.accounts import require_an_admin
from causerie.cli.options import database_option, load_settings, model_option
from causerie.config import is_loopback
from causerie.errors import ConfigurationError


@click.command()
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


@click.command()
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
