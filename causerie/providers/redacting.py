"""The privacy firewall as a provider decorator: what reaches an external upstream is redacted
(or refused), and the reply is restored before anyone sees it.

``RedactingProvider`` wraps any provider, so the chat service does not know it is there. Its
completions report ``redactions`` (kinds and counts, never values) for the UI.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

from causerie.errors import PrivacyBlockedError
from causerie.privacy.redact import Redactor, describe
from causerie.providers.base import Completion, Provider
from causerie.providers.config import Policy, PrivacyClass
from causerie.types import Delta, Message, ModelInfo, SamplingParams

log = logging.getLogger(__name__)


class RedactedCompletion:
    """The inner completion's reply with placeholders restored, across chunk boundaries too."""

    def __init__(self, inner: Completion, redactor: Redactor) -> None:
        self._inner = inner
        self._redactor = redactor
        self.prompt_tokens = inner.prompt_tokens
        self.redactions = redactor.counts()
        self.served_by: str | None = getattr(inner, "served_by", None)

    async def __aiter__(self) -> AsyncIterator[Delta]:
        restorer = self._redactor.stream()
        async for delta in self._inner:
            text = restorer.feed(delta.text)
            if delta.finish_reason is not None:
                text += restorer.flush()
                yield Delta(text, delta.finish_reason, delta.usage)
                return
            if text:
                yield Delta(text)
        rest = restorer.flush()
        if rest:
            yield Delta(rest)

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
        self, model: str, messages: Sequence[Message], params: SamplingParams
    ) -> Completion:
        if self._local_only and self.privacy == "external":
            raise PrivacyBlockedError(
                f"Local-only mode is on: the provider `{self.name}` is external and receives "
                f"no requests."
            )
        if self.policy == "allow":
            return await self.inner.open(model, messages, params)
        redactor = Redactor(self._names)
        redactor.reserve([*(m.content for m in messages), *params.stop])
        redacted = [Message(m.role, redactor.redact(m.content)) for m in messages]
        stop = tuple(redactor.redact(text) for text in params.stop)  # the model writes placeholders
        counts = redactor.counts()
        if counts and self.policy == "block":
            raise PrivacyBlockedError(
                f"This request contains personal data ({describe(counts)}) and the provider "
                f"`{self.name}` is set to block such requests.",
                param="messages",
            )
        if counts:
            log.info("redacted %s before provider %s", describe(counts), self.name)
        completion = await self.inner.open(model, redacted, replace(params, stop=stop))
        return RedactedCompletion(completion, redactor)

    async def close(self) -> None:
        await self.inner.close()
