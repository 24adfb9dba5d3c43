"""Fitting a conversation into the model's context window, and the bounds on what a turn holds."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from causerie.errors import ContextLengthExceededError, InvalidRequestError
from causerie.types import Message


def check_input_bounds(messages: Sequence[Message], *, max_messages: int, max_chars: int) -> None:
    """Refuse, before any tokenizing, a turn with too many messages or too much text."""
    if len(messages) > max_messages:
        raise InvalidRequestError(
            f"Too many messages: {len(messages)}; at most {max_messages} are accepted.",
            param="messages",
        )
    chars = sum(len(m.content) + sum(len(c.arguments) for c in m.tool_calls) for m in messages)
    if chars > max_chars:
        raise InvalidRequestError(
            f"The messages hold {chars} characters; at most {max_chars} are accepted.",
            param="messages",
        )


def drop_points(turns: Sequence[Message]) -> list[int]:
    """Where the kept turns may start, oldest first: a user turn goes with the reply after it,
    a tool's result with the call it answers, and the last user turn (the question being
    answered) is kept with whatever follows it (or the last turn, when none is a user's)."""
    last_user = next(
        (i for i in reversed(range(len(turns))) if turns[i].role == "user"), len(turns) - 1
    )
    return [
        i
        for i in range(max(last_user, 0) + 1)
        if i == 0
        or not (
            turns[i].role == "tool"
            or (turns[i].role == "assistant" and turns[i - 1].role == "user")
        )
    ]


def fit_messages(
    messages: Sequence[Message],
    count_tokens: Callable[[Sequence[Message]], int],
    window: int,
    reserve: int,
) -> list[Message]:
    """Drop the oldest turns (never system messages nor the last question, ``drop_points``)
    until the prompt plus ``reserve`` reply tokens fits in ``window``.

    The fewest drops are found by bisection, so a long history costs a handful of counts, not
    one count per dropped turn (each count tokenizes the whole prompt).
    """
    system = [m for m in messages if m.role == "system"]
    turns = [m for m in messages if m.role != "system"]
    starts = drop_points(turns)

    def fits(index: int) -> bool:
        return count_tokens(system + turns[starts[index] :]) + reserve <= window

    if fits(0):
        return system + turns
    low, high = 0, len(starts) - 1  # fits(low) is false; find the first index that fits
    if not fits(high):
        raise ContextLengthExceededError(
            f"The message is too long for this model's context of {window} tokens.",
            param="messages",
        )
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            high = middle
        else:
            low = middle
    return system + turns[starts[high] :]
