"""Ollama's answers to a turn: one JSON object, or a newline-delimited JSON stream whose last
line has ``done: true``, the ``done_reason`` and the counts and durations (nanoseconds).

``/api/chat`` puts the text in ``message.content``, ``/api/generate`` in ``response``
(``Payload``). A streamed line carries a piece of the text; a tool call comes whole, in a line
of its own before the last one. An error once the stream has started is a line
``{"error": "<message>"}``, as Ollama writes it.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from causerie.api.ollama.schemas import arguments_object
from causerie.chat.turn import Turn
from causerie.errors import CauserieError
from causerie.types import ToolCall

Payload = Callable[[str, tuple[ToolCall, ...]], dict[str, Any]]
"""A turn's text (and tool calls) as one route's answer carries them."""


def chat_payload(text: str, calls: tuple[ToolCall, ...]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "function": {
                    "index": index,
                    "name": call.name,
                    "arguments": arguments_object(call.arguments),
                },
            }
            for index, call in enumerate(calls)
        ]
    return {"message": message}


def generate_payload(text: str, calls: tuple[ToolCall, ...]) -> dict[str, Any]:
    return {"response": text}


def now() -> str:
    """The time as Ollama's ``created_at`` gives it (RFC 3339, UTC)."""
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def nanoseconds(seconds: float) -> int:
    return max(0, round(seconds * 1e9))


class Clock:
    """A turn's durations as Ollama reports them: ``load_duration`` from the request's arrival
    to the turn's start (the model is always loaded: checks, prompt and admission), then
    ``prompt_eval_duration`` to the first piece of the reply, ``eval_duration`` to its end."""

    def __init__(self, arrived: float | None) -> None:
        self.opened = time.perf_counter()  # made once the turn has started
        self.arrived = arrived if arrived is not None else self.opened
        self.first: float | None = None

    def replied(self) -> None:
        if self.first is None:
            self.first = time.perf_counter()

    def stats(self, turn: Turn) -> dict[str, Any]:
        ended = time.perf_counter()
        first = self.first if self.first is not None else ended
        reason = turn.final.finish_reason if turn.final else None
        return {
            "done": True,
            "done_reason": "length" if reason == "length" else "stop",
            "total_duration": nanoseconds(ended - self.arrived),
            "load_duration": nanoseconds(self.opened - self.arrived),
            "prompt_eval_count": turn.prompt_tokens,
            "prompt_eval_duration": nanoseconds(first - self.opened),
            "eval_count": turn.completion_tokens,
            "eval_duration": nanoseconds(ended - first),
        }


def last(
    turn: Turn, model: str, payload: Payload, clock: Clock, whole: bool = True
) -> dict[str, Any]:
    """The answer's last object: with the whole reply (``whole``), or, ending a stream that
    sent it, with no text."""
    text, calls = (turn.text, turn.tool_calls) if whole else ("", ())
    return {"model": model, "created_at": now(), **payload(text, calls), **clock.stats(turn)}


async def collect(turn: Turn, clock: Clock) -> None:
    """Consume the whole reply (not streamed), timing its first piece."""
    try:
        async for delta in turn.stream():
            if delta.text or delta.tool_calls:
                clock.replied()
    finally:
        await turn.aclose()


def line(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"


async def ndjson(
    turn: Turn,
    model: str,
    payload: Payload,
    clock: Clock,
    first_written: Callable[[], None] | None = None,
) -> AsyncIterator[str]:
    """The turn as NDJSON lines; ``first_written`` is called once its first text is sent."""
    try:
        try:
            async for delta in turn.stream():
                if delta.text or delta.tool_calls:
                    clock.replied()
                if delta.text:
                    piece = payload(delta.text, ())
                    yield line({"model": model, "created_at": now(), **piece, "done": False})
                    if first_written is not None:
                        first_written()
                        first_written = None
        except CauserieError as exc:  # the status is sent: the error goes in the stream
            yield line({"error": exc.message})
            return
        if turn.tool_calls:
            calls = payload("", turn.tool_calls)
            yield line({"model": model, "created_at": now(), **calls, "done": False})
        yield line(last(turn, model, payload, clock, whole=False))
    finally:
        await turn.aclose()  # a disconnect lands here: generation stops, partial reply saved
