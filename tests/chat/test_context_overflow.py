"""``drop_points`` and ``fit_messages`` with tool turns: a history cut to fit the context keeps
each tool result with the call it answers, and the last question with what follows it."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from causerie.chat.prompt import drop_points, fit_messages
from causerie.errors import ContextLengthExceededError
from causerie.types import Message, ToolCall

CALL = ToolCall("call_1", "get_weather", '{"city": "Paris"}')


def words(messages: Sequence[Message]) -> int:
    return sum(len(m.content.split()) + len(m.tool_calls) for m in messages)


AGENT = [
    Message("user", "one two three"),  # 0
    Message("assistant", "four five"),  # 1
    Message("user", "weather in Paris please"),  # 2
    Message("assistant", "", (CALL,)),  # 3
    Message("tool", "sunny and warm today", tool_call_id="call_1"),  # 4
    Message("assistant", "It is sunny"),  # 5
    Message("user", "and tomorrow"),  # 6
    Message("assistant", "", (CALL,)),  # 7
    Message("tool", "rain", tool_call_id="call_1"),  # 8
]


def test_a_history_may_start_only_where_no_pair_is_split() -> None:
    # not at a reply to a user (1, 3, 7), a tool result (4, 8), nor after the last question (6)
    assert drop_points(AGENT) == [0, 2, 5, 6]


def test_fitting_drops_whole_exchanges_and_keeps_the_last_question() -> None:
    fitted = fit_messages([Message("system", "be brief"), *AGENT], words, window=12, reserve=2)
    assert fitted == [Message("system", "be brief"), *AGENT[5:]]
    assert fit_messages(AGENT, words, window=7, reserve=1) == AGENT[6:]
    with pytest.raises(ContextLengthExceededError):  # the last question and what follows: 4
        fit_messages(AGENT, words, window=4, reserve=1)
