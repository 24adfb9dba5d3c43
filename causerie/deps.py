"""FastAPI dependencies as ``Annotated`` aliases, resolved from the app's one ``Services``."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from causerie.chat.service import ChatService
from causerie.providers.registry import ProviderRegistry
from causerie.services import Services
from causerie.storage import ConversationStore
from causerie.storage.listing import ConversationListing
from causerie.storage.preferences import Preferences
from causerie.storage.search import SearchIndex
from causerie.storage.shares import ShareStore
from causerie.storage.tree import MessageTree


def get_services(request: Request) -> Services:
    return cast(Services, request.app.state.services)


def get_chat(request: Request) -> ChatService:
    return get_services(request).chat


def get_registry(request: Request) -> ProviderRegistry:
    return get_services(request).registry


def get_conversations(request: Request) -> ConversationStore:
    return get_services(request).conversations


def get_listing(request: Request) -> ConversationListing:
    return ConversationListing(get_services(request).database)


def get_tree(request: Request) -> MessageTree:
    return MessageTree(get_services(request).database)


def get_search(request: Request) -> SearchIndex:
    return SearchIndex(get_services(request).database)


def get_preferences(request: Request) -> Preferences:
    return Preferences(get_services(request).database)


def get_shares(request: Request) -> ShareStore:
    return ShareStore(get_services(request).database)


ServicesDep = Annotated[Services, Depends(get_services)]
ChatDep = Annotated[ChatService, Depends(get_chat)]
RegistryDep = Annotated[ProviderRegistry, Depends(get_registry)]
ConversationsDep = Annotated[ConversationStore, Depends(get_conversations)]
ListingDep = Annotated[ConversationListing, Depends(get_listing)]
TreeDep = Annotated[MessageTree, Depends(get_tree)]
SearchDep = Annotated[SearchIndex, Depends(get_search)]
SharesDep = Annotated[ShareStore, Depends(get_shares)]
PreferencesDep = Annotated[Preferences, Depends(get_preferences)]
