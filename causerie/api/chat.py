"""``POST /v1/chat/completions``: parse the body, start the turn, answer in JSON or Server-Sent
Events shaped exactly like OpenAI's (``api/sse.py``). With ``n`` choices, only choice 0 is
stored in the conversation (the one a client's next call goes on from)."""

from __future__ import annotations

import time
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from causerie.api.decode import parse_body
from causerie.api.logprobs import chat_logprobs
from causerie.api.schemas import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    error_responses,
    request_body,
)
from causerie.api.sse import event_stream, usage_out
from causerie.api.tools import ToolCallOut
from causerie.auth.principal import Principal
from causerie.chat.service import ChatService
from causerie.chat.turn import Reply, Turn
from causerie.deps import ApiPrincipal, ChatDep, ServicesDep
from causerie.middleware import received_at
from causerie.responses import EventStreamResponse
from causerie.types import Admit, Caller, Message, SamplingOverrides

router = APIRouter()

REQUEST_SCHEMA = request_body(ChatCompletionRequest)


def api_caller(request: Request, principal: Principal, user: str | None) -> Caller:
    """Who a ``/v1`` request is for; without accounts, the engine shares its time fairly
    between API users (the request's ``user``, else the client's address)."""
    client = user or (request.client.host if request.client else "anonymous")
    return principal.caller(fairness=f"api:{client}")


async def open_turn(
    request: Request,
    chat: ChatService,
    principal: Principal,
    admit: Admit,
    model: str,
    messages: list[Message],
    overrides: SamplingOverrides,
    *,
    store: bool = True,
    user: str | None = None,
) -> Turn:
    """A turn of a client that sends the whole history (``ChatService.complete``), for the
    caller of ``request`` (``/v1`` and Ollama's routes alike); ``user``: the client's own name
    for its user, which the engine's fairness goes by (else the client's address)."""
    return await chat.complete(
        model,
        messages,
        chat.api_sampling(**overrides),
        admit=admit,
        store=store,
        caller=api_caller(request, principal, user),
    )


@router.post(
    "/v1/chat/completions",
    response_model=ChatCompletion,
    openapi_extra=REQUEST_SCHEMA,
    summary="Create a chat completion",
    responses={
        200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}},
        **error_responses(400, 401, 404, 413, 429, 500, 502, 503),
    },
)
async def create_chat_completion(
    request: Request, chat: ChatDep, principal: ApiPrincipal, services: ServicesDep
) -> JSONResponse | EventStreamResponse:
    body = await parse_body(request, ChatCompletionRequest)
    turn = await open_turn(
        request,
        chat,
        principal,
        services.quotas.admitter(principal),
        body.model,
        [message.to_message() for message in body.messages],
        body.overrides(),
        store=principal.stores(body.store),
        user=body.user,
    )
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    headers = {"x-causerie-conversation-id": turn.conversation_id or ""}
    if body.stream:
        arrived = received_at(request.state)

        def first_written() -> None:
            services.overhead.first_written(arrived, turn.served_by, turn.upstream_wait)

        events = event_stream(
            turn,
            completion_id,
            created,
            body.include_usage,
            first_written,
            choices=body.n or 1,
            logprobs=bool(body.logprobs),
        )
        return EventStreamResponse(
            events, headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        )
    await turn.collect()
    result = ChatCompletion(
        id=completion_id,
        created=created,
        model=turn.model,
        choices=[choice_of(reply, logprobs=bool(body.logprobs)) for reply in turn.replies],
        usage=usage_out(turn.usage),
    )
    data = result.model_dump()
    for choice in data["choices"]:
        if choice["message"]["tool_calls"] is None:  # like OpenAI: none in a plain answer
            del choice["message"]["tool_calls"]
    return JSONResponse(data, headers=headers)


def choice_of(reply: Reply, *, logprobs: bool) -> Choice:
    """One choice of a finished turn, as the response lists it."""
    calls = [ToolCallOut.of(call) for call in reply.tool_calls]
    text = reply.text
    return Choice(
        index=reply.index,
        message=AssistantMessage(
            content=(text or None) if calls else text, tool_calls=calls or None
        ),
        finish_reason=reply.final.finish_reason if reply.final else None,
        logprobs=chat_logprobs(reply.logprobs) if logprobs else None,
    )
