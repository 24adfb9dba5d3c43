"""Which sequence holds which tokens in the KV cache, what runs in it, and which one a new
request should reuse."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from causerie.engine.logprobs import LogprobTrail
from causerie.engine.requests import Generation
from causerie.engine.sampling import SamplerChain
from causerie.engine.text import ReplyText


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token lists."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@dataclass(eq=False)
class Choices:
    """The choices of one request (OpenAI's ``n``), each in a slot of its own: how many still
    hold their slot, and the tokens the finished ones produced (the last reports them all)."""

    left: int
    produced: int = 0


@dataclass(eq=False)
class Running:
    """One choice of a request bound to a slot: its progress through prefill and generation.

    Choice 0 prefills the prompt; the others wait (``source``: choice 0's slot) until its cache
    holds the prompt, take a copy of it, and sample on their own from then on.
    """

    generation: Generation
    sampler: SamplerChain
    text: ReplyText
    cached: int
    choices: Choices
    choice: int = 0
    source: Slot | None = None
    trail: LogprobTrail | None = None  # the tokens' logprobs, when the request asks
    produced: int = 0
    batch_index: int = -1  # where its logits are in the current batch, -1 if none
    next_token: int = -1  # sampled, not yet decoded
    last_token_at: float = 0.0


@dataclass(eq=False)
class Slot:
    """One llama.cpp sequence. ``tokens`` is exactly what its KV cache holds, in order.

    A finished request leaves its tokens in place, so the next turn of the same conversation
    can start from them (prefix reuse); an idle slot is recycled least-recently-used first.
    """

    seq_id: int
    tokens: list[int] = field(default_factory=list)
    running: Running | None = None
    last_used: float = field(default_factory=time.monotonic)

    @property
    def idle(self) -> bool:
        return self.running is None


def choose_slot(idle: Sequence[Slot], prompt: Sequence[int]) -> tuple[Slot, int]:
    """The idle slot sharing the longest prefix with ``prompt``; with no useful match, the least
    recently used one (its cache is the least likely to be wanted again)."""
    best, best_shared = None, 0
    for slot in idle:
        shared = common_prefix(slot.tokens, prompt)
        if shared > best_shared:
            best, best_shared = slot, shared
    if best is None:
        best = min(idle, key=lambda slot: slot.last_used)
    return best, best_shared


def spare_slots(idle: Sequence[Slot], taken: Slot, count: int) -> list[Slot]:
    """``count`` idle slots other than ``taken`` for a request's other choices: the least
    recently used (their caches are the least likely to be wanted again)."""
    others = sorted((slot for slot in idle if slot is not taken), key=lambda slot: slot.last_used)
    return others[:count]
