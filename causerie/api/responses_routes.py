"""``/v1/responses``: OpenAI's Responses API over the same turns as chat completions.

``POST`` answers a request (``responses_wire.py``) through ``ChatService.complete``: the same
models, routing, quotas, privacy firewall and storage as ``/v1/chat/completions``. Streamed, it
sends OpenAI's typed events (``response.created``, ``response.output_item.added``,
``response.output_text.delta``..., ``response.completed``) as the ``openai`` SDK parses them.
A stored response (``store``, the default) can be read back (``GET``), deleted (``DELETE``) and
continued (``previous_response_id``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from causerie.api.chat import api_caller
from causerie.api.decode import json_object
from causerie.api.responses_wire import (
    ResponseRequest,
    call_item,
    message_item,
    new_id,
    response_object,
)
from causerie.api.schemas import error_responses, request_body
from causerie.chat.responses import ResponseHistory
from causerie.chat.turn import Turn
from causerie.deps import ApiPrincipal, ChatDep, ResponsesDep, ServicesDep
from causerie.errors import CauserieError
from causerie.responses import EventStreamResponse
from causerie.types import Message

router = APIRouter(tags=["responses"])

REQUEST_SCHEMA = request_body(ResponseRequest)


def ended(turn: Turn) -> tuple[str, str | None]:
    """The response's status, and why it is incomplete (None: it is not)."""
    if turn.final is None:
        return "incomplete", "interrupted"
    if turn.final.finish_reason == "length":
        return "incomplete", "max_output_tokens"
    return "completed", None


def output_of(turn: Turn, message_id: str) -> list[dict[str, Any]]:
    """The reply as output items: one function call item per call, else one message."""
    if turn.tool_calls:
        return [call_item(new_id("fc"), call) for call in turn.tool_calls]
    return [message_item(message_id, turn.text)]


@router.post(
    "/v1/responses",
    response_model=None,
    openapi_extra=REQUEST_SCHEMA,
    summary="Create a response",
    responses={
        200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}},
        **error_responses(400, 401, 404, 413, 429, 500, 502, 503),
    },
)
async def create_response(
    request: Request,
    chat: ChatDep,
    principal: ApiPrincipal,
    services: ServicesDep,
    history: ResponsesDep,
) -> JSONResponse | EventStreamResponse:
    body = ResponseRequest.model_validate(await json_object(request))
    body.check_supported()
    body.store = principal.stores(body.store)
    messages = body.messages()
    if body.previous_response_id:
        messages = [*await history.continued(body.previous_response_id), *messages]
    if body.instructions:
        messages = [Message("system", body.instructions), *messages]
    params = chat.api_sampling(
        max_tokens=body.max_output_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        tools=body.tool_use(),
        reply_format=body.reply_format(),
    )
    turn = await chat.complete(
        body.model,
        messages,
        params,
        admit=services.quotas.admitter(principal),
        store=bool(body.store),
        caller=api_caller(request, principal, body.user),
    )
    response_id = new_id("resp")
    if body.stream:
        events = ResponseEvents(body, turn, response_id, history)
        return EventStreamResponse(events.stream(), headers={"Cache-Control": "no-cache"})
    await turn.collect()
    status, incomplete = ended(turn)
    result = response_object(
        body,
        response_id,
        turn.model,
        status=status,
        output=output_of(turn, new_id("msg")),
        usage=turn.usage,
        incomplete=incomplete,
    )
    if body.store:
        await history.save(response_id, turn, result)
    return JSONResponse(result)


@router.get(
    "/v1/responses/{response_id}",
    summary="Retrieve a stored response",
    responses=error_responses(401, 404),
)
async def get_response(response_id: str, history: ResponsesDep) -> JSONResponse:
    return JSONResponse(await history.get(response_id))


@router.delete(
    "/v1/responses/{response_id}",
    summary="Delete a stored response (its conversation stays in the history)",
    responses=error_responses(401, 404),
)
async def delete_response(response_id: str, history: ResponsesDep) -> JSONResponse:
    await history.delete(response_id)
    return JSONResponse({"id": response_id, "object": "response.deleted", "deleted": True})


class ResponseEvents:
    """One streamed response: OpenAI's typed events, numbered, for one turn."""

    def __init__(
        self, body: ResponseRequest, turn: Turn, response_id: str, history: ResponseHistory
    ) -> None:
        self._body = body
        self._turn = turn
        self._id = response_id
        self._history = history
        self._sequence = 0
        self._created: float | None = None
        self._output: list[dict[str, Any]] = []

    def _event(self, kind: str, **fields: Any) -> str:
        data = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"

    def _response(self, status: str, output: list[dict[str, Any]], **extra: Any) -> Any:
        made = response_object(
            self._body,
            self._id,
            self._turn.model,
            status=status,
            output=output,
            created_at=self._created,
            **extra,
        )
        self._created = made["created_at"]
        return made

    async def stream(self) -> AsyncIterator[str]:
        turn = self._turn
        try:
            yield self._event("response.created", response=self._response("in_progress", []))
            yield self._event("response.in_progress", response=self._response("in_progress", []))
            try:
                async for event in self._items():
                    yield event
            except CauserieError as exc:  # headers are sent: the failure is an event
                failed = self._response("failed", [])
                failed["error"] = {"code": exc.code or exc.type, "message": exc.message}
                yield self._event("response.failed", response=failed)
                return
            status, incomplete = ended(turn)
            final = self._response(status, self._output, usage=turn.usage, incomplete=incomplete)
            await turn.aclose()
            if self._body.store:
                await self._history.save(self._id, turn, final)
            kind = "response.completed" if status == "completed" else "response.incomplete"
            yield self._event(kind, response=final)
        finally:
            await turn.aclose()

    def _message_opened(self, message_id: str) -> list[str]:
        """The events that open the reply's message item and its text part."""
        return [
            self._event(
                "response.output_item.added",
                output_index=0,
                item=message_item(message_id, "", "in_progress"),
            ),
            self._event(
                "response.content_part.added",
                item_id=message_id,
                output_index=0,
                content_index=0,
                part={"type": "output_text", "text": "", "annotations": []},
            ),
        ]

    async def _items(self) -> AsyncIterator[str]:
        """The output items' events as the reply streams: a message's text deltas, or each
        call's argument deltas (a call's item opens when its first piece arrives)."""
        message_id = new_id("msg")
        text_open = False
        calls: dict[int, tuple[str, int]] = {}  # call index -> (item id, output index)
        async for delta in self._turn.stream():
            if delta.text:
                if not text_open:
                    text_open = True
                    for event in self._message_opened(message_id):
                        yield event
                yield self._event(
                    "response.output_text.delta",
                    item_id=message_id,
                    output_index=0,
                    content_index=0,
                    delta=delta.text,
                    logprobs=[],
                )
            for piece in delta.tool_calls:
                if piece.index not in calls:
                    item_id, index = new_id("fc"), len(calls)
                    calls[piece.index] = (item_id, index)
                    yield self._event(
                        "response.output_item.added",
                        output_index=index,
                        item={
                            "id": item_id,
                            "type": "function_call",
                            "status": "in_progress",
                            "call_id": piece.id or "",
                            "name": piece.name or "",
                            "arguments": "",
                        },
                    )
                if piece.arguments:
                    item_id, index = calls[piece.index]
                    yield self._event(
                        "response.function_call_arguments.delta",
                        item_id=item_id,
                        output_index=index,
                        delta=piece.arguments,
                    )
        turn = self._turn
        if turn.tool_calls:
            for (item_id, index), call in zip(calls.values(), turn.tool_calls, strict=False):
                item = call_item(item_id, call)
                self._output.append(item)
                yield self._event(
                    "response.function_call_arguments.done",
                    item_id=item_id,
                    output_index=index,
                    arguments=call.arguments,
                    name=call.name,
                )
                yield self._event("response.output_item.done", output_index=index, item=item)
            return
        if not text_open:  # an empty reply is still one message, with its one part
            for event in self._message_opened(message_id):
                yield event
        part = {"type": "output_text", "text": turn.text, "annotations": [], "logprobs": []}
        yield self._event(
            "response.output_text.done",
            item_id=message_id,
            output_index=0,
            content_index=0,
            text=turn.text,
            logprobs=[],
        )
        yield self._event(
            "response.content_part.done",
            item_id=message_id,
            output_index=0,
            content_index=0,
            part=part,
        )
        item = message_item(message_id, turn.text)
        self._output.append(item)
        yield self._event("response.output_item.done", output_index=0, item=item)
