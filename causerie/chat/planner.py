"""What a turn in a stored conversation answers, and where its reply goes: decided from the
branch alone, with no model, database or network (``ChatService.respond`` does the I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from causerie.errors import InvalidRequestError
from causerie.storage.conversations import StoredMessage
from causerie.types import Message

CONTINUE_PROMPT = "Continue your last answer exactly where it stopped, without repeating it."


@dataclass(frozen=True)
class TurnPlan:
    """``preamble + history + question`` is the prompt before fitting; only ``preamble`` and
    ``question`` are what the request brings (bounded; the stored history is fitted, never
    refused). ``store_question``: the user's message to store (None: regenerate or continue),
    under ``parent_id``; without one, the reply goes under ``parent_id`` itself. ``prefix``: the
    text a continued reply continues."""

    preamble: tuple[Message, ...]
    history: tuple[Message, ...]
    question: tuple[Message, ...]
    store_question: str | None
    parent_id: str | None
    prefix: str = ""

    @property
    def prompt(self) -> list[Message]:
        return [*self.preamble, *self.history, *self.question]

    @property
    def brought(self) -> list[Message]:
        return [*self.preamble, *self.question]


def plan_turn(
    branch: Sequence[StoredMessage], content: str | None, system: str | None = None
) -> TurnPlan:
    """Plan the answer to ``content`` under ``branch`` (root first, the turn's parent last).

    ``content`` None answers the branch again: if it ends with the user's message, a new reply
    becomes a sibling of the earlier ones (regenerate); if it ends with a reply, that reply is
    continued: the model is asked to go on (the request is not stored) and the whole text is
    stored as a sibling of the cut reply. ``system`` goes first, never stored.
    """
    if content is None and (not branch or branch[-1].role not in ("user", "assistant")):
        raise InvalidRequestError("Nothing to answer or continue there.", param="parent_id")
    continued = branch[-1] if content is None and branch[-1].role == "assistant" else None
    history = tuple(
        m.as_message()
        for m in branch
        if m.role != "assistant" or m.content or m.tool_calls  # an empty reply says nothing
    )
    preamble = (Message("system", system),) if system else ()
    parent = branch[-1].id if branch else None
    if continued is not None:
        return TurnPlan(
            preamble,
            history,
            (Message("user", CONTINUE_PROMPT),),
            None,
            continued.parent_id,
            continued.content,
        )
    question = () if content is None else (Message("user", content),)
    return TurnPlan(preamble, history, question, content, parent)
