"""The provider interface: list models, count a prompt, open a streamed completion."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from causerie.types import (
    Delta,
    Message,
    ModelInfo,
    Redactions,
    SamplingParams,
    TurnContext,
)


class Completion(Protocol):
    """A reply being produced. Iterate it for deltas; ``cancel`` stops it early."""

    prompt_tokens: int

    @property
    def served_by(self) -> str | None:
        """``provider/model`` for an upstream (the one that answered, after any failover);
        None for the local model."""

    @property
    def redactions(self) -> Redactions | None:
        """What the privacy firewall hid from the provider (None: nothing, or not external)."""

    @property
    def upstream_wait(self) -> float | None:
        """Seconds between sending the request upstream and receiving its first delta (None for
        the local model): the upstream's own time to first token, as Causerie saw it."""

    def __aiter__(self) -> AsyncIterator[Delta]: ...

    def cancel(self) -> None: ...


class Provider(Protocol):
    """A source of completions. ``open`` validates and starts; errors are raised before streaming."""

    name: str

    def models(self) -> list[ModelInfo]: ...

    def count_tokens(self, model: str, messages: Sequence[Message]) -> int: ...

    async def open(
        self,
        model: str,
        messages: Sequence[Message],
        params: SamplingParams,
        context: TurnContext,
    ) -> Completion: ...

    async def close(self) -> None: ...
