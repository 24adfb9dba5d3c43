"""The one object that owns the long-lived parts: database, providers, chat service."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from causerie.chat.service import ChatService
from causerie.config import Settings
from causerie.providers.config import load_providers
from causerie.providers.local import LocalProvider
from causerie.providers.registry import ProviderRegistry
from causerie.storage import ConversationStore, Database

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    database: Database
    conversations: ConversationStore
    registry: ProviderRegistry
    chat: ChatService
    metrics: CollectorRegistry

    @classmethod
    def build(cls, settings: Settings) -> Services:
        """Migrate the database, load the model. Raises ConfigurationError on bad settings."""
        database = Database(settings.resolved_database_url())
        backup = database.migrate()
        if backup is not None:
            log.info("database migrated; backup of the previous file at %s", backup)
        conversations = ConversationStore(database)
        registry = ProviderRegistry()
        local = LocalProvider.from_settings(settings)
        registry.add(local)
        registry.configure(load_providers(settings), local_only=settings.local_only)
        chat = ChatService(registry, conversations, settings)
        return cls(settings, database, conversations, registry, chat, local.metrics.registry)

    async def close(self) -> None:
        await self.registry.close()
        self.database.dispose()
