"""Fitting a conversation into the model's context window."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from causerie.errors import ContextLengthExceededError
from causerie.types import Message


def fit_messages(
    messages: Sequence[Message],
    count_tokens: Callable[[Sequence[Message]], int],
    window: int,
    reserve: int,
) -> list[Message]:
    """Drop the oldest turns (never system messages nor the last one) until the prompt plus
    ``reserve`` reply tokens fits in ``window``."""
    system = [m for m in messages if m.role == "system"]
    turns = [m for m in messages if m.role != "system"]
    while True:
        candidate = system + turns
        if count_tokens(candidate) + reserve <= window:
            return candidate
        if len(turns) <= 1:
            raise ContextLengthExceededError(
                f"The message is too long for this model's context of {window} tokens.",
                param="messages",
            )
        turns = turns[2:] if len(turns) > 2 and turns[0].role == "user" else turns[1:]
