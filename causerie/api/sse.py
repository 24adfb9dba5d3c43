"""The API's Server-Sent Events: a chat turn as ``chat.completion.chunk`` events, byte for
byte as OpenAI streams them (a delta lists only the fields it sets; an error after the headers is
an event too), ending with ``data: [DONE]``. Several choices stream interleaved, each chunk under
its choice's ``index``; a chunk's ``logprobs``, when asked for, list the tokens of its text."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

from causerie.api.logprobs import ChoiceLogprobs, chat_logprobs
from causerie.api.schemas import (
    ChatCompletionChunk,
    ChunkChoice,
    ChunkDelta,
    PromptTokensDetails,
    UsageOut,
)
from causerie.api.tools import ChunkFunction, ChunkToolCall
from causerie.chat.turn import Turn
from causerie.errors import CauserieError
from causerie.types import ToolCallChunk, Usage


def usage_out(usage: Usage | None) -> UsageOut:
    usage = usage or Usage(0, 0)
    return UsageOut(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=usage.cached_tokens),
    )


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
        self._content_head = f'data: {head[:-1]},"choices":[{{"index":'
        self._content_tail = '}],"usage":null,"system_fingerprint":null}\n\n'

    def content(self, text: str, index: int = 0, logprobs: ChoiceLogprobs | None = None) -> str:
        listed = "null" if logprobs is None else logprobs.model_dump_json()
        return (
            f'{self._content_head}{index},"delta":{{"content":{json.dumps(text, ensure_ascii=False)}'
            f'}},"finish_reason":null,"logprobs":{listed}{self._content_tail}'
        )

    def tool_calls(self, pieces: tuple[ToolCallChunk, ...], index: int = 0) -> str:
        calls = [
            ChunkToolCall(
                index=piece.index,
                id=piece.id,
                type="function" if piece.id is not None else None,
                function=ChunkFunction(name=piece.name, arguments=piece.arguments),
            )
            for piece in pieces
        ]
        return self.event(ChunkDelta(tool_calls=calls), index=index)

    def event(self, delta: ChunkDelta, finish: str | None = None, index: int = 0) -> str:
        chunk = self._template.model_copy(
            update={"choices": [ChunkChoice(index=index, delta=delta, finish_reason=finish)]}
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
    turn: Turn,
    completion_id: str,
    created: int,
    include_usage: bool,
    first_written: Callable[[], None] | None = None,
    *,
    choices: int = 1,
    logprobs: bool = False,
) -> AsyncIterator[str]:
    """The turn's events, for its ``choices``, with the tokens' ``logprobs`` if asked for;
    ``first_written`` is called once its first text has been sent."""
    encoder = ChunkEncoder(completion_id, created, turn.model)
    try:
        for index in range(choices):
            yield encoder.event(ChunkDelta(role="assistant", content=""), index=index)
        try:
            async for delta in turn.stream():
                index = delta.choice
                listed = chat_logprobs(delta.logprobs) if logprobs and delta.logprobs else None
                if delta.text or listed is not None:
                    yield encoder.content(delta.text, index, listed)
                    if first_written is not None:
                        first_written()
                        first_written = None
                if delta.tool_calls:
                    yield encoder.tool_calls(delta.tool_calls, index)
                if delta.finish_reason is not None:
                    yield encoder.event(ChunkDelta(), delta.finish_reason, index)
        except CauserieError as exc:  # headers are sent: report in the stream, as OpenAI does
            yield f"data: {json.dumps(exc.envelope())}\n\n"
            return
        if include_usage:
            yield encoder.usage(turn.usage)
        yield "data: [DONE]\n\n"
    finally:
        await turn.aclose()  # a disconnect lands here: generation stops, partial reply saved
