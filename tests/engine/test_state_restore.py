"""Conversations beyond the sequences keep their state (``engine/host_states.py``), on the real
model in this process: a conversation pushed out of its only sequence by another is saved to
host memory, and its next turn restores it instead of prefilling it again, with the same greedy
text as a fresh prefill; a budget too small keeps nothing; a state written by another model is
never loaded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from causerie.engine.model import LoadedModel
from causerie.engine.scheduler import EngineConfig, Scheduler
from causerie.engine.templates import resolve_template
from causerie.providers.local import LocalProvider
from causerie.types import Delta, Message, SamplingParams, TurnContext
from tests.helpers import ENGINE_THREADS

pytestmark = pytest.mark.anyio

GREEDY = SamplingParams(temperature=0, max_tokens=24)
OTHER = (
    "My neighbour asked me how to keep basil alive indoors. I told her about light, water and "
    "pinching the flowers, but I am not sure I remembered everything. What would you add?"
)
STORY = (
    "Here are my notes on the trip. We left Lyon early on Monday, drove to Grenoble, "
    "had lunch by the river, then climbed to the fort by cable car. The view over the Alps "
    "was wide and clear, and we stayed until the evening light turned the peaks pink."
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def model(model_dir: Path) -> Iterator[LoadedModel]:
    loaded = LoadedModel(next(model_dir.glob("*.gguf")), context_size=2048)
    yield loaded
    loaded.close()


def engine(model: LoadedModel, state_cache_bytes: int, parallel: int = 1) -> LocalProvider:
    config = EngineConfig(
        context_size=2048,
        parallel=parallel,
        batch_size=256,
        prefill_chunk=64,
        threads=ENGINE_THREADS,
        max_waiting=8,
        state_cache_bytes=state_cache_bytes,
    )
    template = resolve_template(model.metadata, bos=model.bos_text, eos=model.eos_text)
    return LocalProvider.in_process(model, template, config)


async def ask(local: LocalProvider, messages: list[Message]) -> tuple[str, Delta]:
    completion = await local.open(local.model.id, messages, GREEDY, TurnContext())
    parts, last = [], Delta()
    async for delta in completion:
        parts.append(delta.text)
        last = delta
    return "".join(parts), last


def sample(registry: CollectorRegistry, name: str) -> float:
    return registry.get_sample_value(name) or 0.0


def first_turn(question: str) -> list[Message]:
    return [Message("user", f"{STORY}\n\n{question}")]


async def test_a_pushed_out_conversation_comes_back_from_host_memory(model: LoadedModel) -> None:
    local = engine(model, state_cache_bytes=512 * 2**20)
    registry = local.engine.registry
    try:
        turn = first_turn("Where did we have lunch?")
        answer, _ = await ask(local, turn)
        await ask(local, [Message("user", OTHER)])  # another conversation takes the sequence
        assert sample(registry, "causerie_state_saves_total") == 1
        assert sample(registry, "causerie_state_cache_bytes") > 0
        follow_up = [*turn, Message("assistant", answer), Message("user", "And then?")]
        restored_text, restored = await ask(local, follow_up)
        assert sample(registry, "causerie_state_restores_total") == 1
        assert restored.usage is not None
    finally:
        await local.close_engine()

    fresh = engine(model, state_cache_bytes=0)
    try:
        fresh_text, prefilled = await ask(fresh, follow_up)
    finally:
        await fresh.close_engine()
    staying = engine(model, state_cache_bytes=0)
    try:
        await ask(staying, turn)  # the same first turn, and nothing pushes it out
        _, stayed = await ask(staying, follow_up)
    finally:
        await staying.close_engine()
    assert prefilled.usage is not None and prefilled.usage.cached_tokens == 0
    assert restored_text == fresh_text  # the same greedy words as a fresh prefill
    # As much of the prompt was reused as if the conversation had never left its sequence.
    assert stayed.usage is not None and stayed.usage.cached_tokens > 100
    assert restored.usage.cached_tokens == stayed.usage.cached_tokens


async def test_a_budget_too_small_keeps_nothing(model: LoadedModel) -> None:
    local = engine(model, state_cache_bytes=64 * 1024)  # less than one short chat's state
    registry = local.engine.registry
    try:
        await ask(local, first_turn("Where did we have lunch?"))
        await ask(local, first_turn("What did we see from the fort?"))
        await ask(local, [Message("user", "Name three colors of the rainbow, please.")])
        assert sample(registry, "causerie_state_saves_total") == 0
        assert sample(registry, "causerie_state_cache_bytes") == 0
    finally:
        await local.close_engine()


async def rainbow_then_follow_up(local: LocalProvider, planted: str | None) -> Delta:
    """A conversation pushed out by another, then its next turn; with ``planted``, the engine
    takes itself for the model ``planted`` before the next turn."""
    turn = first_turn("Where did we have lunch?")
    answer, _ = await ask(local, turn)
    await ask(local, [Message("user", "Name three colors of the rainbow, please.")])
    if planted is not None:
        scheduler = local.engine
        assert isinstance(scheduler, Scheduler) and scheduler._states is not None  # noqa: SLF001
        assert len(scheduler._states.cache) == 1  # noqa: SLF001
        scheduler._states.fingerprint = planted  # noqa: SLF001 (as if the file had changed)
    follow_up = [*turn, Message("assistant", answer), Message("user", "And then?")]
    return (await ask(local, follow_up))[1]


async def test_a_state_of_another_model_is_never_loaded(model: LoadedModel) -> None:
    plain = engine(model, state_cache_bytes=0)
    try:
        expected = await rainbow_then_follow_up(plain, None)  # no state cache at all
    finally:
        await plain.close_engine()
    local = engine(model, state_cache_bytes=512 * 2**20)
    registry = local.engine.registry
    try:
        last = await rainbow_then_follow_up(local, "another-model.gguf:1:1")
        assert sample(registry, "causerie_state_restore_failures_total") == 1
        assert sample(registry, "causerie_state_restores_total") == 0
        assert last.usage is not None and expected.usage is not None
        # Prefilled as without the cache (only the template's preamble is shared).
        assert last.usage.cached_tokens == expected.usage.cached_tokens
        scheduler = local.engine
        assert isinstance(scheduler, Scheduler) and scheduler._states is not None  # noqa: SLF001
        states = scheduler._states  # noqa: SLF001
        # The foreign state is gone (what is saved now is the rainbow's, under the new name).
        assert all(saved.fingerprint == states.fingerprint for saved in states.cache.entries())
    finally:
        await local.close_engine()
