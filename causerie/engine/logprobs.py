"""Log-probabilities of the reply's tokens, and which of them belong to the text returned.

A token's log-probability is read from the model's own distribution: the log-softmax of the raw
logits row llama.cpp computed for the sequence, before repetition penalties, top-k, top-p,
min-p, temperature or a grammar shape what is drawn (OpenAI reports the model's distribution
too). It costs a pass over the whole vocabulary (262,144 entries for Gemma 3) per token, so it is
computed only for requests that ask.

The reply's text is not exactly its tokens' text: a chat's reply loses its leading and trailing
blanks, and a stop string ends it (the stop string and what follows are not returned).
``LogprobTrail`` keeps the tokens in step with the text: a token is listed when some of its
text is in the reply, in the delta that carries the end of its text; a token whose text was
all cut (blanks trimmed, a stop string) is not listed. A token that carries a piece of a
character split across tokens counts as holding that character.
"""

from __future__ import annotations

import codecs
from collections import deque
from collections.abc import Callable

import numpy as np

from causerie.types import TokenChoice, TokenLogprob

TOP_LOGPROBS_MAX = 20  # OpenAI's bound on top_logprobs


def token_text(raw: bytes) -> str:
    """A token's text; one that is not whole UTF-8 is written as its escaped bytes,
    ``bytes:\\xe2\\x80``."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes:" + "".join(f"\\x{byte:02x}" for byte in raw)


def logprobs_of(
    logits: np.ndarray, token: int, top: int, piece: Callable[[int], bytes]
) -> TokenLogprob:
    """``token``'s log-probability under the distribution of ``logits`` (one row of raw
    logits), with the ``top`` likeliest tokens, likeliest first; ``piece`` gives a token's
    bytes."""
    row = logits.astype(np.float64, copy=False)
    peak = float(row.max())
    log_total = peak + float(np.log(np.exp(row - peak).sum()))
    alternatives: tuple[TokenChoice, ...] = ()
    if top > 0:
        best = np.argpartition(row, -top)[-top:]
        best = best[np.argsort(-row[best], kind="stable")]
        alternatives = tuple(
            TokenChoice(token_text(raw), float(row[i]) - log_total, raw)
            for i in best
            for raw in (piece(int(i)),)
        )
    raw = piece(token)
    return TokenLogprob(token_text(raw), float(row[token]) - log_total, raw, alternatives)


class LogprobTrail:
    """The tokens of one reply waiting for their text to be returned.

    Positions are in characters of the decoded text as the model wrote it (before trimming or
    stop strings); the reply returns one slice of it, ``[lead, lead + shown)``.
    """

    def __init__(self) -> None:
        self._waiting: deque[tuple[TokenLogprob, int, int]] = deque()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._written = 0  # characters the model's tokens decode to so far

    def add(self, entry: TokenLogprob) -> None:
        """A token the model produced (in order)."""
        start = self._written
        self._written += len(self._decoder.decode(entry.raw))
        # a piece of a split character holds the character it starts or continues
        self._waiting.append((entry, start, max(self._written, start + 1)))

    def shown(self, lead: int, shown: int) -> tuple[TokenLogprob, ...]:
        """The tokens whose text is now all returned (``lead`` characters were cut from the
        start, the ``shown`` after them returned); those whose text was all cut, dropped."""
        end = lead + shown
        listed = []
        while self._waiting and self._waiting[0][2] <= end:
            entry, _, stop = self._waiting.popleft()
            if stop > lead:
                listed.append(entry)
        return tuple(listed)

    def finish(self, lead: int, shown: int) -> tuple[TokenLogprob, ...]:
        """The reply has ended: the tokens with some text in it."""
        end = lead + shown
        listed = tuple(entry for entry, start, stop in self._waiting if start < end and stop > lead)
        self._waiting.clear()
        return listed
