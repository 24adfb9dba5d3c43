"""Conversations' KV state kept in host memory when their sequence is given to another.

When a slot's tokens are about to be overwritten (the slot goes to a request that shares little
with it), the engine saves the sequence's state (llama.cpp's per-sequence state: its cells'
keys and values, a few MB for a short chat on a small model) here, with the tokens it holds.
A later request whose prompt starts like saved tokens takes the state back into a free slot
and prefills only the rest, instead of the whole prompt.

The cache holds at most ``budget`` bytes; the least recently saved entries go first. Entries
carry the fingerprint of the model that wrote them: a state is never restored into another
model (a restore with another fingerprint is refused, and the entry dropped).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Tokens = npt.NDArray[np.int32]


def shared_prefix(a: Tokens, b: Tokens) -> int:
    """How many leading tokens ``a`` and ``b`` have in common (vectorized)."""
    n = min(len(a), len(b))
    if n == 0:
        return 0
    differ = np.flatnonzero(a[:n] != b[:n])
    return int(differ[0]) if len(differ) else n


@dataclass(frozen=True, eq=False)
class SavedState:
    """A sequence's state as llama.cpp wrote it, and the tokens it holds."""

    tokens: Tokens
    data: bytes
    fingerprint: str
    first_position: int = 0  # the oldest position its cells hold (sliding windows forget)
    saved_at: float = field(default_factory=time.monotonic)

    @property
    def size(self) -> int:
        return len(self.data) + self.tokens.nbytes


class ModelMismatchError(Exception):
    """A saved state was written by another model than the one restoring it."""


class StateCache:
    """Saved sequence states within a memory budget, least recently saved evicted first."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._entries: OrderedDict[int, SavedState] = OrderedDict()
        self._ids = 0
        self.used = 0
        self.saved = 0  # entries put
        self.restored = 0  # entries taken back
        self.evicted = 0  # entries dropped for room

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> list[SavedState]:
        """The saved states, least recently saved first."""
        return list(self._entries.values())

    def put(
        self, tokens: Sequence[int], data: bytes, fingerprint: str, first_position: int = 0
    ) -> bool:
        """Keep a state; False (nothing kept) when it alone is over the budget. A state whose
        tokens another entry starts with replaces that entry (it holds all of it, and more)."""
        state = SavedState(np.asarray(tokens, dtype=np.int32), data, fingerprint, first_position)
        if state.size > self.budget:
            return False
        for key, other in list(self._entries.items()):
            covered = len(other.tokens) <= len(state.tokens)
            if covered and shared_prefix(other.tokens, state.tokens) == len(other.tokens):
                self._drop(key)
        while self.used + state.size > self.budget:
            self._drop(next(iter(self._entries)))
            self.evicted += 1
        self._ids += 1
        self._entries[self._ids] = state
        self.used += state.size
        self.saved += 1
        return True

    def best(
        self, prompt: Sequence[int], at_least: int = 1, window: int = 0
    ) -> tuple[int, int] | None:
        """The entry sharing the longest prefix with ``prompt`` (at least ``at_least`` tokens):
        its key and the tokens shared; None when none does. With a sliding ``window``, an entry
        counts only if its cells still hold the window before the shared prefix's end."""
        wanted = np.asarray(prompt, dtype=np.int32)
        found: tuple[int, int] | None = None
        for key, state in self._entries.items():
            shared = shared_prefix(state.tokens, wanted)
            if window and state.first_position > max(0, shared - window):
                continue
            if shared >= at_least and (found is None or shared > found[1]):
                found = (key, shared)
        return found

    def take(self, key: int, fingerprint: str) -> SavedState:
        """Remove and return an entry to restore it (the slot holds it from now on).
        ``ModelMismatchError`` if another model wrote it (the entry is dropped)."""
        state = self._entries[key]
        self._drop(key)
        if state.fingerprint != fingerprint:
            raise ModelMismatchError(
                f"a state saved by model {state.fingerprint} cannot be restored into {fingerprint}"
            )
        self.restored += 1
        return state

    def _drop(self, key: int) -> None:
        state = self._entries.pop(key)
        self.used -= state.size

    def clear(self) -> None:
        self._entries.clear()
        self.used = 0
