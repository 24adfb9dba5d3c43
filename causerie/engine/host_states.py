"""Save a sequence's KV state to host memory before its cells are given away, and restore it
when its conversation comes back (``StateCache`` holds the states within a budget).

Only what is worth it is saved: a sequence about to lose at least ``SAVE_MIN_TOKENS`` tokens
(a conversation's next turn cuts a few tokens of its last reply and keeps the rest: nothing to
save). A state is restored when it shares at least ``RESTORE_MIN_GAIN`` more prompt tokens
than the best idle sequence does; the copy costs a few milliseconds where prefilling the same
tokens costs a model pass over each (docs/benchmarks.md, restore against prefill).
"""

from __future__ import annotations

import ctypes
import logging
import time
from collections.abc import Sequence
from typing import Any

import llama_cpp as L
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from causerie.engine.state_cache import ModelMismatchError, SavedState, StateCache

log = logging.getLogger(__name__)

SAVE_MIN_TOKENS = 32
RESTORE_MIN_GAIN = 32


class StateMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.saved = Counter(
            "causerie_state_saves", "Sequence states saved to host memory", registry=r
        )
        self.restored = Counter(
            "causerie_state_restores", "Sequence states restored from host memory", registry=r
        )
        self.restored_tokens = Counter(
            "causerie_state_restored_tokens",
            "Prompt tokens restored instead of prefilled",
            registry=r,
        )
        self.failed = Counter(
            "causerie_state_restore_failures", "Restores refused or failed", registry=r
        )
        self.bytes = Gauge(
            "causerie_state_cache_bytes", "Bytes of saved states in host memory", registry=r
        )
        self.save_seconds = Histogram(
            "causerie_state_save_seconds", "Time to save a sequence state", registry=r
        )
        self.restore_seconds = Histogram(
            "causerie_state_restore_seconds", "Time to restore a sequence state", registry=r
        )


class HostStates:
    """The engine's side of the state cache: llama.cpp's per-sequence state in and out."""

    def __init__(
        self,
        ctx: Any,
        cache: StateCache,
        fingerprint: str,
        window: int,
        registry: CollectorRegistry,
    ) -> None:
        self._ctx = ctx
        self._memory = L.llama_get_memory(ctx)
        self.cache = cache
        self.fingerprint = fingerprint
        self.window = window  # the model's sliding window (0: none)
        self.metrics = StateMetrics(registry)

    def save(self, seq_id: int, tokens: Sequence[int], keep: int) -> None:
        """Save the sequence before it is cut back to ``keep`` tokens, when that loses enough."""
        if len(tokens) - keep < SAVE_MIN_TOKENS:
            return
        started = time.perf_counter()
        size = int(L.llama_state_seq_get_size(self._ctx, seq_id))
        if size <= 0 or size > self.cache.budget:
            return
        buffer = (ctypes.c_uint8 * size)()
        written = int(L.llama_state_seq_get_data(self._ctx, buffer, size, seq_id))
        if written <= 0:
            return
        first = int(L.llama_memory_seq_pos_min(self._memory, seq_id))
        if self.cache.put(tokens, bytes(buffer[:written]), self.fingerprint, max(0, first)):
            self.metrics.saved.inc()
        self.metrics.bytes.set(self.cache.used)
        self.metrics.save_seconds.observe(time.perf_counter() - started)

    def better(self, prompt: Sequence[int], shared: int) -> tuple[int, int] | None:
        """A saved state sharing clearly more of ``prompt`` than ``shared`` tokens (its key and
        the tokens it shares), or None."""
        usable = len(prompt) - 1  # the last prompt token is always evaluated, for its logits
        found = self.cache.best(prompt[:usable], shared + RESTORE_MIN_GAIN, self.window)
        return found

    def take(self, key: int) -> SavedState | None:
        """Remove a saved state from the cache to load it; None if another model wrote it."""
        try:
            return self.cache.take(key, self.fingerprint)
        except ModelMismatchError as exc:
            log.warning("state cache: %s", exc)
            self.metrics.failed.inc()
            return None
        finally:
            self.metrics.bytes.set(self.cache.used)

    def load(self, seq_id: int, state: SavedState) -> bool:
        """Load a state into an empty sequence; False (the sequence left empty) when llama.cpp
        refuses it (no room for its cells)."""
        started = time.perf_counter()
        buffer = (ctypes.c_uint8 * len(state.data)).from_buffer_copy(state.data)
        read = int(L.llama_state_seq_set_data(self._ctx, buffer, len(state.data), seq_id))
        if read == 0:
            L.llama_memory_seq_rm(self._memory, seq_id, -1, -1)
            self.metrics.failed.inc()
            return False
        self.metrics.restored.inc()
        self.metrics.restore_seconds.observe(time.perf_counter() - started)
        return True
