"""The one object that owns the long-lived parts: database, providers, chat service, and
the gate, quotas and accounts of ``auth/``."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from anyio import to_thread
from prometheus_client import CollectorRegistry

from causerie.auth.accounts import Accounts
from causerie.auth.gate import Gate
from causerie.auth.quotas import Quotas
from causerie.chat.files import ChatFiles
from causerie.chat.import_queue import ImportQueue, import_limits
from causerie.chat.retention import Retention
from causerie.chat.service import ChatService
from causerie.config import Settings
from causerie.hub.jobs import PullJobs
from causerie.providers.config import load_providers
from causerie.providers.local import LocalProvider
from causerie.providers.local_models import LocalModels
from causerie.providers.overhead import ProxyOverhead
from causerie.providers.registry import ProviderRegistry
from causerie.retrieval.embed import Embedder
from causerie.retrieval.extract import ExtractLimits
from causerie.retrieval.ingest import Ingestor
from causerie.storage import ConversationStore, Database
from causerie.storage.contents import DocumentContents

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    database: Database
    registry: ProviderRegistry
    chat: ChatService
    metrics: CollectorRegistry
    gate: Gate
    quotas: Quotas
    accounts: Accounts
    local: LocalProvider  # the default model
    local_models: LocalModels  # it, and the models directory's other GGUFs
    overhead: ProxyOverhead
    ingestor: Ingestor
    embedder: Embedder
    pulls: PullJobs  # models pulled from the admin page
    imports: ImportQueue  # exports uploaded to /api/imports
    retention: Retention  # the admin's retention policy and its background purge

    @classmethod
    def build(cls, settings: Settings) -> Services:
        """Migrate the database, load the model. Raises ConfigurationError on bad settings."""
        database = Database(settings.resolved_database_url())
        backup = database.migrate()
        if backup is not None:
            log.info("database migrated; backup of the previous file at %s", backup)
        registry = ProviderRegistry()
        local = LocalProvider.from_settings(settings)
        local_models = LocalModels(local, settings, local.engine.registry)
        registry.add(local_models)
        registry.configure(load_providers(settings), local_only=settings.local_only)
        embedder = Embedder()
        chat = ChatService(registry, database, settings, ChatFiles(database, embedder))
        limits = ExtractLimits(settings.max_upload_bytes)
        return cls(
            settings,
            database,
            registry,
            chat,
            local.engine.registry,
            Gate(database),
            Quotas(database, settings),
            Accounts(database),
            local,
            local_models,
            ProxyOverhead(local.engine.registry),
            Ingestor(DocumentContents(database), limits, embedder),
            embedder,
            PullJobs(settings.resolved_models_dir()),
            ImportQueue(
                database,
                max_attachment_bytes=settings.max_upload_bytes,
                limits=import_limits(settings),
            ),
            Retention(database, interval=settings.retention_interval),
        )

    def conversations(self, owner: str) -> ConversationStore:
        return ConversationStore(self.database, owner)

    async def close(self) -> None:
        await self.retention.close()
        await to_thread.run_sync(self.imports.close)
        await self.ingestor.close()
        await self.registry.close()
        self.database.dispose()
