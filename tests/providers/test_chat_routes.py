"""The chat service, unchanged, over a failover route: a stored conversation turn whose first
target is down is answered by the real upstream and saved."""

from __future__ import annotations

import asyncio
from pathlib import Path

from causerie.auth.principal import LOCAL
from causerie.auth.quotas import Quotas
from causerie.chat.service import ChatService
from causerie.chat.turn import Turn
from causerie.config import Settings
from causerie.providers.config import parse_providers
from causerie.providers.registry import ProviderRegistry
from causerie.storage import ConversationStore, Database
from tests.conftest import Server, free_port

MODEL = "gemma-3-270m-q4_k_m"


def test_a_stored_turn_through_an_alias_with_failover(tmp_path: Path, upstream: Server) -> None:
    config = parse_providers(
        {
            "providers": {
                "dead": {"base_url": f"http://127.0.0.1:{free_port()}/v1", "privacy": "trusted"},
                "up": {"base_url": upstream.api_url, "privacy": "trusted"},
            },
            "aliases": {"default": [f"dead/{MODEL}", f"up/{MODEL}"]},
        },
        environ={},
    )
    registry = ProviderRegistry()
    registry.configure(config)  # "up" lists its models itself (discovery)
    # the upstream (a Causerie) lists its model and `default`; the alias comes last
    assert [m.id for m in registry.models()] == [f"up/{MODEL}", "up/default", "default"]
    database = Database(f"sqlite:///{tmp_path / 'chat.db'}")
    database.migrate()
    store = ConversationStore(database)
    settings = Settings(data_dir=tmp_path)
    chat = ChatService(registry, database, settings)

    async def main() -> tuple[Turn, str]:
        try:
            turn = await chat.respond(
                None,
                "What is the capital of France?",
                sampling={"max_tokens": 6, "temperature": 0},
                admit=Quotas(database, settings).admitter(LOCAL),
            )
            return turn, await turn.collect()
        finally:
            await registry.close()

    try:
        turn, text = asyncio.run(main())
        assert text and turn.model == "default"
        assert turn.conversation_id is not None
        stored = store.branch(turn.conversation_id)
        assert [(m.role, m.content) for m in stored] == [
            ("user", "What is the capital of France?"),
            ("assistant", text),
        ]
    finally:
        database.dispose()
