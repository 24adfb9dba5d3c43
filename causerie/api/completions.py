"""``POST /v1/completions``: OpenAI's legacy text completions, for the tools that still use them.

The prompt is continued as it is written: no chat template, no roles
(``ChatService.complete_text``). A list of prompts gets one choice per prompt, in its order;
each prompt is a request to the model of its own, one after the other, admitted, capped and
counted in the caller's usage like a chat turn. Nothing is stored as a conversation. Streamed,
the chunks are OpenAI's ``text_completion`` objects (each prompt's pieces under its ``index``),
ending with ``data: [DONE]``.

With ``n`` choices per prompt, prompt ``p``'s choice ``i`` is listed at index ``p * n + i`` (as
OpenAI lists them). ``logprobs: k`` gives each choice its tokens in the legacy shape, with the
``k`` likeliest alternatives (``text_offset``: where each token starts in the choice's text).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Annotated, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from causerie.api.chat import api_caller
from causerie.api.decode import parse_body
from causerie.api.logprobs import CompletionLogprobs, TextOffsets
from causerie.api.schemas import Flag, SamplingRequest, UsageOut, error_responses, request_body
from causerie.api.sse import usage_out
from causerie.chat.turn import Turn
from causerie.deps import ApiPrincipal, ChatDep, ServicesDep
from causerie.errors import CauserieError, InvalidRequestError, UnsupportedParameterError
from causerie.middleware import received_at
from causerie.responses import EventStreamResponse
from causerie.types import Usage

router = APIRouter()

OpenTurn = Callable[[str], Awaitable[Turn]]


class CompletionRequest(SamplingRequest):
    """``POST /v1/completions``."""

    prompt: str | list[str] | list[int] | list[list[int]]
    # OpenAI's default; null: whatever fits in the context, as a chat's
    max_tokens: Annotated[int | None, Field(ge=1, strict=True)] = 16
    echo: Flag = False
    suffix: str | None = None
    best_of: Annotated[int | None, Field(strict=True)] = None
    logprobs: Annotated[int | None, Field(ge=0, le=20, strict=True)] = None

    def check_supported(self) -> None:
        super().check_supported()
        if self.best_of is not None and self.best_of != 1:
            raise UnsupportedParameterError("Only best_of=1 is supported.", param="best_of")
        if self.suffix:
            raise UnsupportedParameterError(
                "`suffix` (text to insert the completion before) is not supported.",
                param="suffix",
            )
        if self.logprobs is not None and self.echo:
            raise UnsupportedParameterError(
                "`logprobs` with `echo` would list the prompt's tokens too, which are not "
                "computed: leave one of them out.",
                param="logprobs",
            )
        self.prompts()

    def prompts(self) -> list[str]:
        """The prompts as texts, or a 400 naming what is wrong with them."""
        items = [self.prompt] if isinstance(self.prompt, str) else list(self.prompt)
        if not items:
            raise InvalidRequestError("`prompt` must not be an empty list.", param="prompt")
        texts = [item for item in items if isinstance(item, str)]
        if len(texts) != len(items):
            raise UnsupportedParameterError(
                "`prompt` as token ids is not supported: send the text itself.", param="prompt"
            )
        return texts


class TextChoice(BaseModel):
    text: str
    index: int
    logprobs: CompletionLogprobs | None = None
    finish_reason: str | None


class TextCompletion(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[TextChoice]
    usage: UsageOut


REQUEST_SCHEMA = request_body(CompletionRequest)


def added(total: Usage, turn: Turn) -> Usage:
    """``total`` with a finished turn's tokens counted in."""
    usage = turn.usage or Usage(0, 0)
    return Usage(
        total.prompt_tokens + usage.prompt_tokens,
        total.completion_tokens + usage.completion_tokens,
        total.cached_tokens + usage.cached_tokens,
    )


@router.post(
    "/v1/completions",
    response_model=TextCompletion,
    openapi_extra=REQUEST_SCHEMA,
    summary="Create a completion (legacy)",
    responses={
        200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}},
        **error_responses(400, 401, 404, 413, 429, 500, 502, 503),
    },
)
async def create_completion(
    request: Request, chat: ChatDep, principal: ApiPrincipal, services: ServicesDep
) -> JSONResponse | EventStreamResponse:
    body = await parse_body(request, CompletionRequest)
    prompts = body.prompts()
    params = chat.api_sampling(**body.overrides(max_tokens=body.max_tokens, logprobs=body.logprobs))
    admit = services.quotas.admitter(principal)
    caller = api_caller(request, principal, body.user)

    async def open_turn(prompt: str) -> Turn:
        return await chat.complete_text(body.model, prompt, params, admit=admit, caller=caller)

    completion_id = f"cmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    first = await open_turn(prompts[0])  # its refusal is the response's status
    if body.stream:
        arrived = received_at(request.state)

        def first_written() -> None:
            services.overhead.first_written(arrived, first.served_by, first.upstream_wait)

        chunks = TextChunks(completion_id, created, first.model)
        return EventStreamResponse(
            text_events(chunks, first, prompts, open_turn, body, first_written),
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    choices, usage, n = [], Usage(0, 0), body.n or 1
    for number, prompt in enumerate(prompts):
        turn = await open_turn(prompt) if number else first
        await turn.collect()
        for reply in turn.replies:
            choices.append(
                TextChoice(
                    text=prompt + reply.text if body.echo else reply.text,
                    index=number * n + reply.index,
                    finish_reason=reply.final.finish_reason if reply.final else None,
                    logprobs=TextOffsets().logprobs(reply.logprobs)
                    if body.logprobs is not None
                    else None,
                )
            )
        usage = added(usage, turn)
    result = TextCompletion(
        id=completion_id,
        created=created,
        model=first.model,
        choices=choices,
        usage=usage_out(usage),
    )
    return JSONResponse(result.model_dump())


class TextChunks:
    """One stream's events. The envelope is the same for every chunk: serialized once."""

    def __init__(self, completion_id: str, created: int, model: str) -> None:
        head = json.dumps(
            {"id": completion_id, "object": "text_completion", "created": created, "model": model},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        self._head = f"data: {head[:-1]},"

    def text(
        self,
        index: int,
        text: str,
        finish: str | None = None,
        logprobs: CompletionLogprobs | None = None,
    ) -> str:
        listed = logprobs.model_dump() if logprobs is not None else None
        choice = {"text": text, "index": index, "logprobs": listed, "finish_reason": finish}
        encoded = json.dumps(choice, ensure_ascii=False, separators=(",", ":"))
        return f'{self._head}"choices":[{encoded}],"usage":null}}\n\n'

    def usage(self, usage: Usage) -> str:
        return f'{self._head}"choices":[],"usage":{usage_out(usage).model_dump_json()}}}\n\n'


async def text_events(
    chunks: TextChunks,
    first: Turn,
    prompts: Sequence[str],
    open_turn: OpenTurn,
    body: CompletionRequest,
    first_written: Callable[[], None],
) -> AsyncIterator[str]:
    """Each prompt's completion in turn (``first`` is the first one's, already opened): its
    choices' text pieces, then a chunk with each one's finish reason; the usage of them all
    if asked for."""
    turn, usage, n = first, Usage(0, 0), body.n or 1
    written: Callable[[], None] | None = first_written
    try:
        try:
            for number, prompt in enumerate(prompts):
                turn = await open_turn(prompt) if number else first
                if body.echo and prompt:
                    for choice in range(n):
                        yield chunks.text(number * n + choice, prompt)
                offsets: dict[int, TextOffsets] = {}
                async for delta in turn.stream():
                    index = number * n + delta.choice
                    listed = None
                    if body.logprobs is not None and delta.logprobs:
                        offsets.setdefault(delta.choice, TextOffsets())
                        listed = offsets[delta.choice].logprobs(delta.logprobs)
                    if delta.text or listed is not None:
                        yield chunks.text(index, delta.text, logprobs=listed)
                        if written is not None:
                            written()
                            written = None
                    if delta.finish_reason is not None:
                        yield chunks.text(index, "", delta.finish_reason)
                usage = added(usage, turn)
        except CauserieError as exc:  # headers are sent: report in the stream, as OpenAI does
            yield f"data: {json.dumps(exc.envelope())}\n\n"
            return
        if body.include_usage:
            yield chunks.usage(usage)
        yield "data: [DONE]\n\n"
    finally:
        await turn.aclose()  # a disconnect lands here: generation stops
