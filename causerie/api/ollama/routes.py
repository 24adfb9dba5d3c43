"""Ollama's routes. Chat and generate are turns of ``ChatService.complete`` opened as
``/v1/chat/completions`` opens them (``api/chat.py: open_turn``): the same API keys, quotas,
usage and stored conversations; embeddings are ``/v1/embeddings``' own. Not in the OpenAPI
document: docs/api.md describes them, as Ollama's own reference does."""

from __future__ import annotations

import time
from typing import Any, TypeVar

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from causerie import __version__
from causerie.api.chat import open_turn
from causerie.api.decode import json_object
from causerie.api.embeddings import EmbeddingRequest, create_embeddings, embedding_target
from causerie.api.ollama.models import chat_model, described, embedding_model, find
from causerie.api.ollama.replies import (
    Clock,
    Payload,
    chat_payload,
    collect,
    generate_payload,
    last,
    nanoseconds,
    ndjson,
    now,
)
from causerie.api.ollama.schemas import (
    ChatRequest,
    EmbedRequest,
    GenerateRequest,
    LegacyEmbeddingRequest,
    ShowRequest,
    TurnRequest,
)
from causerie.auth.principal import Principal
from causerie.deps import ApiPrincipal, ServicesDep
from causerie.errors import InvalidRequestError
from causerie.middleware import received_at
from causerie.responses import NdjsonResponse
from causerie.services import Services

router = APIRouter(include_in_schema=False)

# The version of Ollama's API these routes follow (clients check it before using a feature:
# structured outputs came with 0.5, tools and /api/embed before).
OLLAMA_VERSION = "0.6.0"


Body = TypeVar("Body", bound=BaseModel)


async def parsed(request: Request, kind: type[Body]) -> Body:
    """The body as ``kind``, decoded as ``/v1``'s (bad bytes, bad JSON: a precise 400)."""
    return kind.model_validate(await json_object(request))


@router.get("/api/version")
async def version() -> dict[str, str]:
    """Open to every client, as ``/health`` is: clients ask it before anything else."""
    return {"version": OLLAMA_VERSION, "causerie": __version__}


@router.get("/api/tags")
async def tags(services: ServicesDep, principal: ApiPrincipal) -> dict[str, Any]:
    return {"models": [model.listed() for model in await described(services, principal)]}


@router.get("/api/ps")
async def running(services: ServicesDep, principal: ApiPrincipal) -> dict[str, Any]:
    """The local models loaded now (the providers' are not here)."""
    loaded = services.local_models.resident
    models = await described(services, principal)
    return {"models": [model.running() for model in models if model.name in loaded]}


@router.post("/api/show")
async def show(request: Request, services: ServicesDep, principal: ApiPrincipal) -> dict[str, Any]:
    body = await parsed(request, ShowRequest)
    name = body.model or body.name
    if not name:
        raise InvalidRequestError("`model` is required.", param="model")
    return (await find(services, principal, name)).shown()


@router.post("/api/chat", response_model=None)
async def chat(
    request: Request, services: ServicesDep, principal: ApiPrincipal
) -> JSONResponse | NdjsonResponse:
    return await serve_turn(request, services, principal, ChatRequest, chat_payload)


@router.post("/api/generate", response_model=None)
async def generate(
    request: Request, services: ServicesDep, principal: ApiPrincipal
) -> JSONResponse | NdjsonResponse:
    return await serve_turn(request, services, principal, GenerateRequest, generate_payload)


async def serve_turn(
    request: Request,
    services: Services,
    principal: Principal,
    kind: type[TurnRequest],
    payload: Payload,
) -> JSONResponse | NdjsonResponse:
    """A chat or generate request (``kind``): nothing asked (Ollama's way to load a model) is
    answered at once; else the turn is answered."""
    body = await parsed(request, kind)
    body.check_supported()
    if body.asks_nothing:
        return await loaded(services, principal, body, payload("", ()))
    return await answer(request, services, principal, body, payload)


async def loaded(
    services: Services, principal: Principal, body: TurnRequest, payload: dict[str, Any]
) -> JSONResponse:
    """The answer to a request with nothing to answer: the model is there (and stays loaded,
    whatever ``keep_alive`` says), or a 404 as for any request that names it."""
    model = chat_model(services.registry, body.model)
    _, model_id = services.registry.resolve(model)
    await to_thread.run_sync(services.quotas.check_model, principal, [model, model_id])
    reason = "unload" if body.unloading else "load"
    data = {"model": body.model, "created_at": now(), **payload, "done": True}
    return JSONResponse({**data, "done_reason": reason})


async def answer(
    request: Request,
    services: Services,
    principal: Principal,
    body: TurnRequest,
    payload: Payload,
) -> JSONResponse | NdjsonResponse:
    """The turn, opened as ``/v1`` opens one, in one JSON object or streamed as NDJSON."""
    try:
        turn = await open_turn(
            request,
            services.chat,
            principal,
            services.quotas.admitter(principal),
            chat_model(services.registry, body.model),
            body.to_messages(),
            body.overrides(),
            store=principal.stores(body.store),
        )
    except InvalidRequestError as exc:  # the local model's grammar names /v1's field
        if exc.param != "response_format":
            raise
        message = exc.message.replace("The response_format schema", "The format schema")
        raise InvalidRequestError(message, param="format") from exc
    clock = Clock(received_at(request.state))
    headers = {"x-causerie-conversation-id": turn.conversation_id or ""}
    if body.stream:

        def first_written() -> None:
            services.overhead.first_written(clock.arrived, turn.served_by, turn.upstream_wait)

        stream = ndjson(turn, body.model, payload, clock, first_written)
        return NdjsonResponse(stream, headers={**headers, "Cache-Control": "no-cache"})
    await collect(turn, clock)
    return JSONResponse(last(turn, body.model, payload, clock), headers=headers)


@router.post("/api/embed")
async def embed(request: Request, services: ServicesDep, principal: ApiPrincipal) -> dict[str, Any]:
    """``/v1/embeddings``, answered as Ollama does: ``embeddings``, one list of floats each."""
    body = await parsed(request, EmbedRequest)
    arrived = received_at(request.state) or time.perf_counter()
    vectors, tokens = await embedded(services, principal, body.model, body.texts(), body.dimensions)
    return {
        "model": body.model,
        "embeddings": vectors,
        "total_duration": nanoseconds(time.perf_counter() - arrived),
        "load_duration": 0,
        "prompt_eval_count": tokens,
    }


@router.post("/api/embeddings")
async def embeddings(
    request: Request, services: ServicesDep, principal: ApiPrincipal
) -> dict[str, Any]:
    """Ollama's older route: one ``prompt``, one ``embedding``."""
    body = await parsed(request, LegacyEmbeddingRequest)
    texts = [body.prompt] if body.prompt else []
    vectors, _ = await embedded(services, principal, body.model, texts)
    return {"embedding": vectors[0] if vectors else []}


async def embedded(
    services: Services,
    principal: Principal,
    name: str,
    texts: list[str],
    dimensions: int | None = None,
) -> tuple[list[list[float]], int]:
    """The vectors of ``texts`` and the tokens read, as ``/v1/embeddings`` makes and counts
    them; no text (Ollama's way to load a model) is no vector, once the model is known."""
    model = embedding_model(services, name)
    if not texts:
        served = embedding_target(services, model)
        names = [model, *([served[0].label(served[1])] if served else [])]
        await to_thread.run_sync(services.quotas.check_model, principal, names)
        return [], 0
    request = EmbeddingRequest(input=texts, model=model, dimensions=dimensions)
    result = await create_embeddings(request, services, principal)
    vectors = [item.embedding for item in result.data]
    return [v for v in vectors if isinstance(v, list)], result.usage.prompt_tokens


@router.post("/api/pull")
@router.post("/api/push")
@router.post("/api/create")
@router.post("/api/copy")
@router.delete("/api/delete")
async def manage_models() -> None:
    raise InvalidRequestError(
        "Models are pulled by an administrator (`causerie models pull`, or Admin → Models), "
        "not through this API; they are not pushed, created, copied or deleted here."
    )
