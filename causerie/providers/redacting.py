"""The privacy firewall as a provider decorator: what reaches an external upstream is redacted
(or refused), and the reply is restored before anyone sees it.

``RedactingProvider`` wraps any provider, so the chat service does not know it is there. The
names to hide are the providers file's ``[privacy] names`` plus those the asking user listed in
their settings (the turn's ``TurnContext.private_names``). Its completions report ``redactions``
(the provider, kinds and counts, never values) for the UI.

Tool results are message contents and are redacted like them; the arguments of an assistant's
tool calls are redacted value by value inside their JSON (a number that hides personal data
becomes a placeholder string). Placeholders in the argument pieces a model streams back are
restored as JSON string content (escaped), so the arguments stay valid JSON. Tool definitions
(written by the developer, not the user) are sent as they are.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Any

from causerie.errors import PrivacyBlockedError
from causerie.privacy.redact import PLACEHOLDER, Redactor, StreamRestorer, describe
from causerie.providers.base import Completion, Provider
from causerie.providers.config import Policy, PrivacyClass
from causerie.types import (
    Delta,
    Message,
    ModelInfo,
    Redactions,
    SamplingParams,
    ToolCall,
    ToolCallChunk,
    TurnContext,
)

log = logging.getLogger(__name__)


class RedactedCompletion:
    """The inner completion's reply with placeholders restored, across chunk boundaries too."""

    def __init__(self, inner: Completion, redactor: Redactor, provider: str) -> None:
        self._inner = inner
        self._redactor = redactor
        self.prompt_tokens = inner.prompt_tokens
        counts = redactor.counts()  # the request is redacted by now: final
        self.redactions = Redactions(provider, counts) if counts else None
        self.served_by = inner.served_by
        self.upstream_wait = inner.upstream_wait

    async def __aiter__(self) -> AsyncIterator[Delta]:
        # Each choice's text and each of its tool calls' arguments stream apart. Token logprobs
        # pass as the upstream sent them: the tokens it saw, placeholders and all.
        restorers: dict[int, StreamRestorer] = {}
        calls: dict[tuple[int, int], StreamRestorer] = {}
        async for delta in self._inner:
            choice = delta.choice
            if choice not in restorers:
                restorers[choice] = self._redactor.stream()
            text = restorers[choice].feed(delta.text)
            pieces = [self._restored(piece, choice, calls) for piece in delta.tool_calls]
            if delta.finish_reason is not None:
                text += restorers.pop(choice).flush()
                pieces += [
                    ToolCallChunk(index, arguments=rest)
                    for (owner, index), arguments in calls.items()
                    if owner == choice and (rest := arguments.flush())
                ]
                yield Delta(
                    text, delta.finish_reason, delta.usage, tuple(pieces), choice, delta.logprobs
                )
                continue
            pieces = [p for p in pieces if p.arguments or p.id is not None or p.name is not None]
            if text or pieces or delta.logprobs:
                yield Delta(text, tool_calls=tuple(pieces), choice=choice, logprobs=delta.logprobs)
        for choice, restorer in restorers.items():  # a stream that ended without finishing
            rest = restorer.flush()
            if rest:
                yield Delta(rest, choice=choice)

    def _restored(
        self, piece: ToolCallChunk, choice: int, calls: dict[tuple[int, int], StreamRestorer]
    ) -> ToolCallChunk:
        key = (choice, piece.index)
        if key not in calls:
            calls[key] = StreamRestorer(self._restore_in_json)
        return replace(piece, arguments=calls[key].feed(piece.arguments))

    def _restore_in_json(self, text: str) -> str:
        """Restore placeholders written inside JSON strings (the values escaped for JSON)."""
        return PLACEHOLDER.sub(
            lambda m: json.dumps(self._redactor.restore(m.group()), ensure_ascii=False)[1:-1], text
        )

    def cancel(self) -> None:
        self._inner.cancel()


class RedactingProvider:
    """Applies one provider's privacy policy before its ``open``."""

    def __init__(
        self,
        inner: Provider,
        *,
        privacy: PrivacyClass,
        policy: Policy,
        names: Sequence[str] = (),
        local_only: bool = False,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.privacy = privacy
        self.policy = policy
        self._names = tuple(names)
        self._local_only = local_only

    def models(self) -> list[ModelInfo]:
        return self.inner.models()

    def count_tokens(self, model: str, messages: Sequence[Message]) -> int:
        return self.inner.count_tokens(model, messages)

    async def open(
        self,
        model: str,
        messages: Sequence[Message],
        params: SamplingParams,
        context: TurnContext,
    ) -> Completion:
        redactor = self._redactor(context)
        if redactor is None:
            return await self.inner.open(model, messages, params, context)
        arguments = [call.arguments for m in messages for call in m.tool_calls]
        redactor.reserve([*(m.content for m in messages), *arguments, *params.stop])
        redacted = [redacted_message(m, redactor) for m in messages]
        stop = tuple(redactor.redact(text) for text in params.stop)  # the model writes placeholders
        self._let_through(redactor, param="messages")
        completion = await self.inner.open(model, redacted, replace(params, stop=stop), context)
        return RedactedCompletion(completion, redactor, self.name)

    def redacted_texts(
        self, texts: Sequence[str], context: TurnContext, *, param: str
    ) -> list[str]:
        """Texts of a request that is not a chat turn (embedding inputs) as this provider may
        receive them; refused (``PrivacyBlockedError``) as ``open`` refuses a turn. Nothing
        comes back to restore."""
        redactor = self._redactor(context)
        if redactor is None:
            return list(texts)
        redactor.reserve(texts)
        redacted = [redactor.redact(text) for text in texts]
        self._let_through(redactor, param=param)
        return redacted

    def _redactor(self, context: TurnContext) -> Redactor | None:
        """The request's redactor (None: the policy lets it through as it is), or a refusal in
        local-only mode."""
        if self.privacy == "external" and self._local_only:
            raise PrivacyBlockedError(
                f"Local-only mode is on: the provider `{self.name}` is external and receives "
                f"no requests."
            )
        if self.privacy == "external" and context.local_only:
            raise PrivacyBlockedError(
                f"This chat's project is local only: the provider `{self.name}` is external and "
                f"receives none of it. Choose a local model."
            )
        if self.policy == "allow":
            return None
        return Redactor([*self._names, *context.private_names])

    def _let_through(self, redactor: Redactor, *, param: str) -> None:
        """Refuse a request that held personal data under the ``block`` policy; log the kinds
        and counts of what was replaced (never the values)."""
        counts = redactor.counts()
        if counts and self.policy == "block":
            raise PrivacyBlockedError(
                f"This request contains personal data ({describe(counts)}) and the provider "
                f"`{self.name}` is set to block such requests.",
                param=param,
            )
        if counts:
            log.info("redacted %s before provider %s", describe(counts), self.name)

    async def close(self) -> None:
        await self.inner.close()


def redacted_message(message: Message, redactor: Redactor) -> Message:
    """The message with its content and its tool calls' arguments redacted."""
    calls = tuple(
        ToolCall(call.id, call.name, redacted_arguments(call.arguments, redactor))
        for call in message.tool_calls
    )
    return replace(message, content=redactor.redact(message.content), tool_calls=calls)


def redacted_arguments(arguments: str, redactor: Redactor) -> str:
    """JSON arguments redacted value by value (text that is not JSON: as text)."""
    try:
        value = json.loads(arguments)
    except json.JSONDecodeError:
        return redactor.redact(arguments)

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return redactor.redact(node)
        if isinstance(node, bool) or node is None:
            return node
        if isinstance(node, int | float):
            hidden = redactor.redact(str(node))
            return node if hidden == str(node) else hidden
        if isinstance(node, list):
            return [walk(item) for item in node]
        return {redactor.redact(key): walk(item) for key, item in node.items()}

    redacted = walk(value)
    return arguments if redacted == value else json.dumps(redacted, ensure_ascii=False)
