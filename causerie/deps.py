"""FastAPI dependencies as ``Annotated`` aliases, resolved from the app's one ``Services``."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from causerie.chat.service import ChatService
from causerie.providers.registry import ProviderRegistry
from causerie.services import Services
from causerie.storage import ConversationStore


def get_services(request: Request) -> Services:
    return cast(Services, request.app.state.services)


def get_chat(request: Request) -> ChatService:
    return get_services(request).chat


def get_registry(request: Request) -> ProviderRegistry:
    return get_services(request).registry


def get_conversations(request: Request) -> ConversationStore:
    return get_services(request).conversations


ServicesDep = Annotated[Services, Depends(get_services)]
ChatDep = Annotated[ChatService, Depends(get_chat)]
RegistryDep = Annotated[ProviderRegistry, Depends(get_registry)]
ConversationsDep = Annotated[ConversationStore, Depends(get_conversations)]
