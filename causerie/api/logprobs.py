"""Token logprobs on the wire: chat's ``choices[].logprobs.content`` and the legacy completions'
older shape (``tokens``, ``token_logprobs``, ``top_logprobs``, ``text_offset``)."""

from __future__ import annotations

import codecs
from collections.abc import Sequence

from pydantic import BaseModel

from causerie.types import TokenChoice, TokenLogprob


class TopLogprob(BaseModel):
    token: str
    logprob: float
    bytes: list[int] | None


class ChatTokenLogprob(TopLogprob):
    top_logprobs: list[TopLogprob]


class ChoiceLogprobs(BaseModel):
    """A chat choice's ``logprobs`` (a stream chunk's: the tokens of its text)."""

    content: list[ChatTokenLogprob] | None
    refusal: list[ChatTokenLogprob] | None = None


def _top(choice: TokenChoice | TokenLogprob) -> TopLogprob:
    return TopLogprob(token=choice.token, logprob=choice.logprob, bytes=list(choice.raw))


def chat_logprobs(entries: Sequence[TokenLogprob]) -> ChoiceLogprobs:
    """Tokens as a chat choice (or chunk) lists them."""
    return ChoiceLogprobs(
        content=[
            ChatTokenLogprob(
                token=entry.token,
                logprob=entry.logprob,
                bytes=list(entry.raw),
                top_logprobs=[_top(choice) for choice in entry.top],
            )
            for entry in entries
        ]
    )


class CompletionLogprobs(BaseModel):
    """A legacy completion choice's ``logprobs``: parallel lists, one entry a token."""

    tokens: list[str]
    token_logprobs: list[float]
    top_logprobs: list[dict[str, float]]
    text_offset: list[int]


class TextOffsets:
    """Where each token of one choice starts in its text, in characters (a piece of a character
    split across tokens: where that character is), counting from ``start``."""

    def __init__(self, start: int = 0) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._offset = start

    def logprobs(self, entries: Sequence[TokenLogprob]) -> CompletionLogprobs:
        """``entries``, the next tokens of the choice, in the legacy shape."""
        offsets = []
        for entry in entries:
            offsets.append(self._offset)
            self._offset += len(self._decoder.decode(entry.raw))
        return CompletionLogprobs(
            tokens=[entry.token for entry in entries],
            token_logprobs=[entry.logprob for entry in entries],
            top_logprobs=[{c.token: c.logprob for c in entry.top} for entry in entries],
            text_offset=offsets,
        )
