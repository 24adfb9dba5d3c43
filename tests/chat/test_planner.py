"""The turn planner on its own: no model, no database, no server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from causerie.chat.planner import CONTINUE_PROMPT, plan_turn
from causerie.errors import InvalidRequestError
from causerie.storage.conversations import StoredMessage
from causerie.types import Message, ToolCall


def stored(id: str, parent: str | None, role: str, content: str, *calls: ToolCall) -> StoredMessage:
    return StoredMessage(
        id=id,
        conversation_id="c",
        parent_id=parent,
        role=role,
        content=content,
        status="complete",
        model=None,
        finish_reason=None,
        prompt_tokens=0,
        completion_tokens=0,
        created_at=datetime.now(UTC),
        tool_calls=calls,
    )


QUESTION = stored("q1", None, "user", "What is the capital of France?")
REPLY = stored("r1", "q1", "assistant", "Paris is")


def test_a_first_message_is_stored_at_the_root() -> None:
    plan = plan_turn([], "Hello", system="Be brief.")
    assert plan.prompt == [Message("system", "Be brief."), Message("user", "Hello")]
    assert (plan.store_question, plan.parent_id, plan.prefix) == ("Hello", None, "")
    assert plan.brought == plan.prompt


def test_a_new_message_goes_under_the_branch_and_only_it_is_bounded() -> None:
    plan = plan_turn([QUESTION, REPLY], "And Italy?")
    assert plan.prompt == [
        Message("user", "What is the capital of France?"),
        Message("assistant", "Paris is"),
        Message("user", "And Italy?"),
    ]
    assert plan.parent_id == "r1" and plan.store_question == "And Italy?"
    assert plan.brought == [Message("user", "And Italy?")]  # the stored history is fitted


def test_regenerate_answers_the_question_again_as_a_sibling() -> None:
    plan = plan_turn([QUESTION], None)
    assert plan.prompt == [Message("user", "What is the capital of France?")]
    assert plan.store_question is None and plan.parent_id == "q1"  # the reply goes under it


def test_continue_asks_the_model_to_go_on_and_stores_a_sibling_of_the_cut_reply() -> None:
    plan = plan_turn([QUESTION, REPLY], None, system="Be brief.")
    assert plan.prompt[-2:] == [Message("assistant", "Paris is"), Message("user", CONTINUE_PROMPT)]
    assert plan.store_question is None  # the request to go on is not stored
    assert plan.parent_id == "q1" and plan.prefix == "Paris is"


def test_an_empty_reply_says_nothing_but_a_tool_call_does() -> None:
    empty = stored("r0", "q1", "assistant", "")
    call = stored("r2", "q1", "assistant", "", ToolCall("c1", "f", "{}"))
    plan = plan_turn([QUESTION, empty, call], "Go on")
    assert [m.role for m in plan.history] == ["user", "assistant"]
    assert plan.history[-1].tool_calls == (ToolCall("c1", "f", "{}"),)


@pytest.mark.parametrize("branch", [[], [stored("s", None, "system", "x")]])
def test_nothing_to_answer_is_a_400(branch: list[StoredMessage]) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        plan_turn(branch, None)
    assert refused.value.param == "parent_id"
