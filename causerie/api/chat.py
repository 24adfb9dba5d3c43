"""``POST /v1/chat/completions``: JSON or Server-Sent Events, shaped exactly like OpenAI's."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from causerie.api.schemas import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChunkChoice,
    ChunkDelta,
    PromptTokensDetails,
    UsageOut,
    error_responses,
)
from causerie.api.tools import ChunkFunction, ChunkToolCall, ToolCallOut
from causerie.auth.principal import Principal
from causerie.auth.quotas import Admission
from causerie.chat.service import ChatService, Turn
from causerie.deps import ApiPrincipal, ChatDep, ServicesDep
from causerie.errors import CauserieError, InvalidRequestError
from causerie.types import ToolCallChunk, ToolUse, Usage

router = APIRouter()

REQUEST_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": ChatCompletionRequest.model_json_schema()}},
    }
}


def usage_out(usage: Usage | None) -> UsageOut:
    usage = usage or Usage(0, 0)
    return UsageOut(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=usage.cached_tokens),
    )


def has_lone_surrogate(payload: object) -> bool:
    """Whether a decoded body holds a surrogate that no pair completed (JSON allows the escape)."""
    try:
        json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


async def parse_body(request: Request) -> ChatCompletionRequest:
    """Decode the body ourselves so bad bytes and bad JSON get precise 400s."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequestError(
            f"The request body is not valid UTF-8 (byte {exc.start})."
        ) from exc
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequestError(
            f"The request body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        ) from exc
    except RecursionError as exc:
        raise InvalidRequestError("The request body is nested too deeply.") from exc
    if ("\\ud" in text or "\\uD" in text) and has_lone_surrogate(payload):
        raise InvalidRequestError(
            "The request body holds a lone UTF-16 surrogate escape (\\ud800-\\udfff), "
            "which is not a character."
        )
    if not isinstance(payload, dict):
        raise InvalidRequestError("The request body must be a JSON object.")
    body = ChatCompletionRequest.model_validate(payload)
    body.check_supported()
    return body


class ChunkEncoder:
    """Encodes one stream's events. The envelope is the same for every chunk, so it is serialized
    once; each content delta then costs one ``json.dumps`` of its text."""

    def __init__(self, completion_id: str, created: int, model: str) -> None:
        self._template = ChatCompletionChunk(
            id=completion_id, created=created, model=model, choices=[]
        )
        head = json.dumps(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )
        self._content_head = f'data: {head[:-1]},"choices":[{{"index":0,"delta":{{"content":'
        self._content_tail = (
            '},"finish_reason":null,"logprobs":null}],"usage":null,"system_fingerprint":null}\n\n'
        )

    def content(self, text: str) -> str:
        return f"{self._content_head}{json.dumps(text, ensure_ascii=False)}{self._content_tail}"

    def tool_calls(self, pieces: tuple[ToolCallChunk, ...]) -> str:
        calls = [
            ChunkToolCall(
                index=piece.index,
                id=piece.id,
                type="function" if piece.id is not None else None,
                function=ChunkFunction(name=piece.name, arguments=piece.arguments),
            )
            for piece in pieces
        ]
        return self.event(ChunkDelta(tool_calls=calls))

    def event(self, delta: ChunkDelta, finish: str | None = None) -> str:
        chunk = self._template.model_copy(
            update={"choices": [ChunkChoice(delta=delta, finish_reason=finish)]}
        )
        return self.encode(chunk)

    def usage(self, usage: Usage | None) -> str:
        return self.encode(self._template.model_copy(update={"usage": usage_out(usage)}))

    @staticmethod
    def encode(chunk: ChatCompletionChunk) -> str:
        """Like OpenAI, a delta lists only the fields it sets (a tool call piece too)."""
        data = chunk.model_dump()
        for choice in data["choices"]:
            choice["delta"] = {k: v for k, v in choice["delta"].items() if v is not None}
            for call in choice["delta"].get("tool_calls", ()):
                for key in [k for k, v in call.items() if v is None]:
                    del call[key]
                call["function"] = {k: v for k, v in call["function"].items() if v is not None}
        return f"data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


async def event_stream(
    turn: Turn, completion_id: str, created: int, include_usage: bool
) -> AsyncIterator[str]:
    encoder = ChunkEncoder(completion_id, created, turn.model)
    try:
        yield encoder.event(ChunkDelta(role="assistant", content=""))
        try:
            async for delta in turn.stream():
                if delta.text:
                    yield encoder.content(delta.text)
                if delta.tool_calls:
                    yield encoder.tool_calls(delta.tool_calls)
                if delta.finish_reason is not None:
                    yield encoder.event(ChunkDelta(), delta.finish_reason)
        except CauserieError as exc:  # headers are sent: report in the stream, as OpenAI does
            yield f"data: {json.dumps(exc.envelope())}\n\n"
            return
        if include_usage:
            yield encoder.usage(turn.usage)
        yield "data: [DONE]\n\n"
    finally:
        await turn.aclose()  # a disconnect lands here: generation stops, partial reply saved


async def open_turn(
    request: Request,
    body: ChatCompletionRequest,
    chat: ChatService,
    principal: Principal,
    admission: Admission,
    tools: ToolUse | None,
) -> Turn:
    params = chat.sampling(
        max_tokens=admission.cap(body.reply_limit()),
        temperature=body.temperature,
        top_p=body.top_p,
        top_k=body.top_k,
        min_p=body.min_p,
        repeat_penalty=body.repeat_penalty,
        presence_penalty=body.presence_penalty,
        frequency_penalty=body.frequency_penalty,
        seed=body.seed,
        stop=body.stop_list() or None,
        tools=tools,
    )
    messages = [message.to_message() for message in body.messages]
    client = body.user or (request.client.host if request.client else "anonymous")
    return await chat.complete(
        body.model,
        messages,
        params,
        store=body.store is not False,
        caller=principal.caller(fairness=f"api:{client}"),
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
) -> JSONResponse | StreamingResponse:
    body = await parse_body(request)
    tools = body.tool_use()
    admission = await services.quotas.admit(principal, chat.model_names(body.model))
    try:
        turn = await open_turn(request, body, chat, principal, admission, tools)
    except BaseException:
        await admission.release()
        raise
    turn.on_close(admission.release)
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    headers = {"x-causerie-conversation-id": turn.conversation_id or ""}
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return StreamingResponse(
            event_stream(turn, completion_id, created, include_usage),
            media_type="text/event-stream",
            headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    text = await turn.collect()
    calls = [ToolCallOut.of(call) for call in turn.tool_calls]
    result = ChatCompletion(
        id=completion_id,
        created=created,
        model=turn.model,
        choices=[
            Choice(
                message=AssistantMessage(
                    content=(text or None) if calls else text, tool_calls=calls or None
                ),
                finish_reason=turn.final.finish_reason if turn.final else None,
            )
        ],
        usage=usage_out(turn.usage),
    )
    data = result.model_dump()
    if not calls:  # like OpenAI: no tool_calls key in a plain answer
        del data["choices"][0]["message"]["tool_calls"]
    return JSONResponse(data, headers=headers)
