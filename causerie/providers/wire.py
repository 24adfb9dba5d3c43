"""The OpenAI chat-completions wire format as upstreams speak it: messages and tools going up,
streamed tool-call pieces, token logprobs, finish reasons and error envelopes coming back, and the headers and
estimates a client needs around them. Plain functions, no I/O."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from causerie.types import (
    FinishReason,
    Message,
    TokenChoice,
    TokenLogprob,
    ToolCallChunk,
    ToolUse,
)

FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
}


def estimate_tokens(messages: Sequence[Message]) -> int:
    """No tokenizer for a remote model: about 3 characters a token, plus the framing."""
    characters = (len(m.content) + sum(len(c.arguments) for c in m.tool_calls) for m in messages)
    return sum(math.ceil(count / 3) + 4 for count in characters) + 2


def wire_message(message: Message) -> dict[str, Any]:
    """A message as the OpenAI API takes it (with parts besides text: its text first, as one
    text part, then the others in their order)."""
    wire: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.parts:
        text = [{"type": "text", "text": message.content}] if message.content else []
        wire["content"] = [*text, *(part.wire for part in message.parts)]
    if message.tool_calls:
        wire["content"] = message.content or None
        wire["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in message.tool_calls
        ]
    if message.tool_call_id is not None:
        wire["tool_call_id"] = message.tool_call_id
    return wire


def wire_tools(tools: ToolUse) -> dict[str, Any]:
    """``tools``, ``tool_choice`` and ``parallel_tool_calls`` as the OpenAI API takes them."""
    functions = []
    for tool in tools.tools:
        function: dict[str, Any] = {"name": tool.name}
        if tool.description:
            function["description"] = tool.description
        if tool.parameters is not None:
            function["parameters"] = tool.parameters
        if tool.strict is not None:
            function["strict"] = tool.strict
        functions.append({"type": "function", "function": function})
    fields: dict[str, Any] = {"tools": functions}
    if tools.choice == "function":
        fields["tool_choice"] = {"type": "function", "function": {"name": tools.function}}
    else:
        fields["tool_choice"] = tools.choice
    if tools.parallel_tool_calls is not None:
        fields["parallel_tool_calls"] = tools.parallel_tool_calls
    return fields


def tool_call_pieces(entries: object) -> tuple[ToolCallChunk, ...]:
    """An upstream's ``delta.tool_calls`` as tool-call pieces (malformed entries skipped)."""
    pieces = []
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, dict):
            continue
        function = entry.get("function")
        if not isinstance(function, dict):
            function = {}
        pieces.append(
            ToolCallChunk(
                index=int(entry.get("index") or 0),
                id=entry.get("id") or None,
                name=function.get("name") or None,
                arguments=str(function.get("arguments") or ""),
            )
        )
    return tuple(pieces)


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header (seconds or an HTTP date) in seconds."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def upstream_message(response: httpx.Response) -> tuple[str, str | None, str | None]:
    """(message, code, param) from an OpenAI error envelope, or the start of the body."""
    try:
        error = response.json().get("error")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        error = None
    if isinstance(error, dict):
        return str(error.get("message") or ""), error.get("code"), error.get("param")
    if isinstance(error, str):
        return error, None, None
    return response.text[:300].strip(), None, None


def wire_logprobs(data: object) -> tuple[TokenLogprob, ...]:
    """An upstream choice's ``logprobs``, chat's shape (``content``: a list of tokens) or the
    legacy completions' (``tokens``, ``token_logprobs``, ``top_logprobs``); malformed entries
    skipped."""
    if not isinstance(data, dict):
        return ()
    if isinstance(data.get("content"), list):
        return tuple(
            TokenLogprob(
                choice.token,
                choice.logprob,
                choice.raw,
                tuple(
                    alternative
                    for item in entry.get("top_logprobs") or ()
                    if (alternative := _token_choice(item)) is not None
                ),
            )
            for entry in data["content"]
            if isinstance(entry, dict) and (choice := _token_choice(entry)) is not None
        )
    tokens, values = data.get("tokens"), data.get("token_logprobs")
    if not isinstance(tokens, list) or not isinstance(values, list):
        return ()
    tops = data.get("top_logprobs")
    tops = tops if isinstance(tops, list) else [None] * len(tokens)
    listed = []
    for token, value, top in zip(tokens, values, tops, strict=False):
        if not isinstance(token, str) or not isinstance(value, int | float):
            continue
        ranked = sorted(top.items(), key=lambda item: -item[1]) if isinstance(top, dict) else []
        alternatives = tuple(
            TokenChoice(str(text), float(lp), str(text).encode("utf-8")) for text, lp in ranked
        )
        listed.append(TokenLogprob(token, float(value), token.encode("utf-8"), alternatives))
    return tuple(listed)


def _token_choice(entry: object) -> TokenChoice | None:
    """``{token, logprob, bytes}`` as a ``TokenChoice`` (its bytes: the token's UTF-8 when the
    upstream sent none)."""
    if not isinstance(entry, dict):
        return None
    token, value, raw = entry.get("token"), entry.get("logprob"), entry.get("bytes")
    if not isinstance(token, str) or not isinstance(value, int | float):
        return None
    if isinstance(raw, list) and all(isinstance(b, int) and 0 <= b < 256 for b in raw):
        return TokenChoice(token, float(value), bytes(raw))
    return TokenChoice(token, float(value), token.encode("utf-8"))
