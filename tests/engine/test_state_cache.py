"""The host-memory cache of sequence states (``engine/state_cache.py``), on its own: the budget
is respected (least recently saved entries go first), the longest shared prefix is found, a
state that holds another's tokens replaces it, and a state is never restored into another model."""

from __future__ import annotations

import pytest

from causerie.engine.state_cache import ModelMismatchError, StateCache, shared_prefix

MODEL = "gemma-3-270m-q4_k_m:abc"


def state(size: int) -> bytes:
    return bytes(size)


def test_shared_prefix_counts_leading_tokens() -> None:
    import numpy as np

    a = np.array([1, 2, 3, 4], dtype=np.int32)
    assert shared_prefix(a, np.array([1, 2, 9], dtype=np.int32)) == 2
    assert shared_prefix(a, np.array([1, 2], dtype=np.int32)) == 2
    assert shared_prefix(a, np.array([7], dtype=np.int32)) == 0
    assert shared_prefix(a, np.array([], dtype=np.int32)) == 0
    assert shared_prefix(a, a) == 4


def test_the_budget_is_respected_oldest_first() -> None:
    cache = StateCache(budget=3_000)
    for first in (10, 20, 30):
        assert cache.put([first, 1, 2], state(900), MODEL)
    assert len(cache) == 3 and cache.used <= cache.budget
    assert cache.put([40, 1, 2], state(900), MODEL)  # one must go: the oldest
    assert len(cache) == 3 and cache.used <= cache.budget and cache.evicted == 1
    assert cache.best([10, 1, 2, 5]) is None
    assert cache.best([20, 1, 2, 5]) is not None
    assert not cache.put([50], state(5_000), MODEL)  # alone over the budget: not kept
    assert len(cache) == 3


def test_the_longest_shared_prefix_wins() -> None:
    cache = StateCache(budget=10_000)
    cache.put([1, 2, 3], state(10), MODEL)
    cache.put([1, 2, 9, 9, 9], state(10), MODEL)
    cache.put([5, 6], state(10), MODEL)
    key, shared = cache.best([1, 2, 9, 9, 4, 4]) or (0, 0)
    assert shared == 4
    taken = cache.take(key, MODEL)
    assert list(taken.tokens) == [1, 2, 9, 9, 9]
    assert len(cache) == 2 and cache.restored == 1
    assert cache.best([1, 2, 9, 9, 4], at_least=3) is None  # [1, 2, 3] shares only 2
    assert cache.best([7, 7]) is None


def test_a_longer_state_of_the_same_conversation_replaces_the_shorter() -> None:
    cache = StateCache(budget=10_000)
    cache.put([1, 2, 3], state(100), MODEL)
    cache.put([1, 2, 3, 4, 5], state(200), MODEL)  # the next turn of the same conversation
    assert len(cache) == 1
    assert cache.used == 200 + 5 * 4  # the bytes and the tokens


def test_a_state_is_never_restored_into_another_model() -> None:
    cache = StateCache(budget=10_000)
    cache.put([1, 2, 3], state(10), MODEL)
    key, _ = cache.best([1, 2, 3, 4]) or (0, 0)
    with pytest.raises(ModelMismatchError):
        cache.take(key, "another-model:def")
    assert len(cache) == 0 and cache.used == 0  # and it is gone
