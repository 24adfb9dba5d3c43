"""The engine's sequences as llama.cpp holds them: cut back to a prefix (saving what would be
lost to the host-memory state cache first), or filled from a saved state.

Split from the scheduler, which decides who runs; this decides what each sequence's cells hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import llama_cpp as L

from causerie.engine.host_states import HostStates
from causerie.engine.kvcache import Slot


class SequenceMemory:
    """Cutting and restoring sequences of one llama.cpp context's memory."""

    def __init__(self, memory: Any, n_swa: int, states: HostStates | None) -> None:
        self._memory = memory
        self._n_swa = n_swa  # the model's sliding window (0: none)
        self._states = states

    def restore(
        self, idle: list[Slot], slot: Slot, prompt: Sequence[int], shared: int
    ) -> tuple[Slot, int]:
        """A saved state that shares more of ``prompt`` than ``slot`` does, loaded into the
        least recently used idle sequence: that sequence and the tokens it shares; else
        ``slot`` and ``shared`` as they were."""
        assert self._states is not None
        found = self._states.better(prompt, shared)
        if found is None:
            return slot, shared
        state = self._states.take(found[0])
        if state is None:
            return slot, shared
        target = min(idle, key=lambda candidate: candidate.last_used)
        self.cut(target, 0)  # what it held is saved first, if worth keeping
        if not self._states.load(target.seq_id, state):
            return slot, shared if target is not slot else 0
        target.tokens = state.tokens.tolist()
        self._states.metrics.restored_tokens.inc(found[1])
        return target, found[1]

    def cut(self, slot: Slot, keep: int) -> int:
        """Cut the slot's cache back to ``keep`` tokens; return how many really stay usable."""
        if keep > 0:
            # Sliding-window layers only remember the sequence's last n_swa or so positions: a
            # prefix is usable only if the window before its end is still held (ask before
            # trimming: once the later cells are gone, the cache cannot tell what it lost).
            pos_min = int(L.llama_memory_seq_pos_min(self._memory, slot.seq_id))
            if pos_min > max(0, keep - self._n_swa):
                keep = 0
        if self._states is not None and slot.tokens:
            self._states.save(slot.seq_id, slot.tokens, keep)  # before its cells go
        if keep > 0:
            L.llama_memory_seq_rm(self._memory, slot.seq_id, keep, -1)
        else:
            L.llama_memory_seq_rm(self._memory, slot.seq_id, -1, -1)
        del slot.tokens[keep:]
        return keep
