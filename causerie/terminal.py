"""``causerie chat``: a streaming terminal chat saved to the same history as the web chat."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

import click

from causerie.auth.principal import LOCAL, Principal
from causerie.config import Settings
from causerie.errors import CauserieError
from causerie.services import Services
from causerie.storage.users import UserStore

HELP = (
    'Enter sends. End a line with "\\" to continue it, or wrap several lines in """. '
    "/new starts a new conversation, /quit leaves."
)


def read_message(read_line: Callable[[str], str], interactive: bool) -> str | None:
    """Read one message: a line, lines joined by trailing backslashes, or a triple-quoted
    block. Returns None at end of input."""
    prompt = "you> " if interactive else ""
    try:
        line = read_line(prompt)
    except EOFError:
        return None
    if line.strip() == '"""':
        block: list[str] = []
        while True:
            try:
                line = read_line("... " if interactive else "")
            except EOFError:
                break
            if line.strip() == '"""':
                break
            block.append(line)
        return "\n".join(block)
    lines = [line]
    while lines[-1].endswith("\\"):
        lines[-1] = lines[-1][:-1]
        try:
            lines.append(read_line("... " if interactive else ""))
        except EOFError:
            break
    return "\n".join(lines)


async def _reply(
    services: Services, principal: Principal, conversation_id: str | None, content: str
) -> str | None:
    """Stream one reply to stdout; Ctrl-C stops the reply, not the program. The user's quotas
    hold here as at every other door."""
    turn = await services.chat.respond(
        conversation_id,
        content,
        source="cli",
        caller=principal.caller(fairness="cli"),
        admit=services.quotas.admitter(principal),
    )
    click.echo("assistant> ", nl=False)
    try:
        async for delta in turn.stream():
            click.echo(delta.text, nl=False)
    except (KeyboardInterrupt, asyncio.CancelledError):
        click.echo(" [stopped]", nl=False)
    finally:
        await turn.aclose()
    click.echo()
    return turn.conversation_id


def terminal_principal(services: Services, username: str | None) -> Principal:
    """The terminal chats as ``username``; without accounts, as the single local user."""
    users = UserStore(services.database)
    if username is None:
        if users.any():
            raise click.ClickException(
                "This server has accounts: say whose chat this is with --user NAME."
            )
        return LOCAL
    return Principal(users.by_username(username))


def run_terminal_chat(
    settings: Settings, conversation_id: str | None, username: str | None = None
) -> None:
    services = Services.build(settings)
    try:
        principal = terminal_principal(services, username)
    except CauserieError as exc:
        raise click.ClickException(exc.message) from exc
    interactive = sys.stdin.isatty()
    if interactive:
        click.echo(f"Causerie chat with {services.registry.default_model}. {HELP}")
    if conversation_id:
        try:
            for message in services.conversations(principal.owner).branch(conversation_id):
                click.echo(
                    f"{'you' if message.role == 'user' else message.role}> {message.content}"
                )
        except CauserieError as exc:
            raise click.ClickException(exc.message) from exc

    async def loop() -> None:
        current = conversation_id
        try:
            while True:
                content = read_message(input, interactive)
                if content is None or content.strip() == "/quit":
                    return
                if content.strip() == "/new":
                    current = None
                    click.echo("(new conversation)")
                    continue
                if not content.strip():
                    continue
                try:
                    current = await _reply(services, principal, current, content)
                except CauserieError as exc:
                    click.echo(f"error: {exc.message}", err=True)
        finally:
            await services.close()

    try:
        asyncio.run(loop())
    except KeyboardInterrupt:
        click.echo()
