"""Which sequence holds which tokens in the KV cache, what runs in it, and which one a new
request should reuse."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

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
class Running:
    """A request bound to a slot: its progress through prefill and generation."""

    generation: Generation
    sampler: SamplerChain
    text: ReplyText
    cached: int
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
