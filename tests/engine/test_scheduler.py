"""The continuous-batching engine with the real model, in-process (no HTTP)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from causerie.engine.model import LoadedModel
from causerie.engine.scheduler import EngineConfig
from causerie.engine.templates import resolve_template
from causerie.errors import OverloadedError
from causerie.providers.local import LocalProvider
from causerie.types import Delta, Message, SamplingParams, TurnContext
from tests.helpers import ENGINE_THREADS, long_reply_messages

pytestmark = pytest.mark.anyio

QUESTIONS = [
    "What is the capital of France?",
    "Name three colors.",
    "What is 2+2?",
    "Who wrote Hamlet?",
    "What is the biggest ocean?",
    "What color is the sky?",
]
GREEDY = SamplingParams(temperature=0, max_tokens=24)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def model(model_dir: Path) -> Iterator[LoadedModel]:
    loaded = LoadedModel(next(model_dir.glob("*.gguf")), context_size=4096)
    yield loaded
    loaded.close()


def as_(caller: str) -> TurnContext:
    """The context of a turn from ``caller`` (the engine's fairness key)."""
    return TurnContext(fairness_key=caller)


def make_provider(model: LoadedModel, **overrides: int) -> LocalProvider:
    config = {
        "context_size": 4096,
        "parallel": 4,
        "batch_size": 256,
        "prefill_chunk": 64,
        "threads": ENGINE_THREADS,
        "max_waiting": 64,
        **overrides,
    }
    template = resolve_template(model.metadata, bos=model.bos_text, eos=model.eos_text)
    return LocalProvider.in_process(model, template, EngineConfig(**config))


@pytest.fixture
async def provider(model: LoadedModel) -> AsyncIterator[LocalProvider]:
    local = make_provider(model)
    yield local
    await local.close_engine()


async def reply(
    provider: LocalProvider,
    messages: list[Message],
    params: SamplingParams = GREEDY,
    caller: str = "test",
) -> tuple[str, Delta]:
    completion = await provider.open(provider.model.id, messages, params, as_(caller))
    parts, last = [], Delta()
    async for delta in completion:
        parts.append(delta.text)
        last = delta
    return "".join(parts), last


def ask(question: str) -> list[Message]:
    return [Message("user", question)]


def shared_prefix(a: str, b: str) -> int:
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


async def test_concurrent_greedy_requests_match_their_solo_replies(provider: LocalProvider) -> None:
    """Six greedy requests on four sequences give the replies they give alone.

    Floating-point batch effects are real: llama.cpp multiplies a one-token batch with a
    matrix-vector kernel and a many-token batch with a matrix-matrix kernel, whose sums round
    differently; when a reply's top two tokens are nearly tied, greedy decoding can then take the
    other one (seen once: "The author of Hamlet is unknown." alone, "… is a man named Hamlet."
    batched). So the bound is: most replies are identical, and any that differ agree on their
    opening (the same question was answered) — a batch that mixed sequences would fail both.
    """
    alone = [(await reply(provider, ask(q)))[0] for q in QUESTIONS]
    together = [
        text for text, _ in await asyncio.gather(*(reply(provider, ask(q)) for q in QUESTIONS))
    ]
    assert all(alone)
    identical = sum(a == b for a, b in zip(alone, together, strict=True))
    assert identical >= len(QUESTIONS) - 1, list(zip(alone, together, strict=True))
    for solo, batched in zip(alone, together, strict=True):
        assert shared_prefix(solo, batched) >= min(len(solo), 12), (solo, batched)


async def test_second_turn_reuses_the_first_turns_cache(provider: LocalProvider) -> None:
    first_text, first = await reply(provider, ask("What is the capital of France?"))
    assert first.usage is not None
    history = [Message("user", "What is the capital of France?"), Message("assistant", first_text)]
    _, second = await reply(provider, [*history, Message("user", "And of Italy?")])
    assert second.usage is not None
    # the whole first prompt (all but its final token or two) came from the cache ...
    assert second.usage.cached_tokens >= first.usage.prompt_tokens - 2
    # ... and only the new tokens were evaluated
    assert second.usage.cached_tokens < second.usage.prompt_tokens
    evaluated = (
        provider.metrics.prompt_tokens._value.get()
        - provider.metrics.cached_prompt_tokens._value.get()
    )
    assert evaluated == first.usage.prompt_tokens + (
        second.usage.prompt_tokens - second.usage.cached_tokens
    )


async def test_seeded_requests_are_reproducible_whatever_the_cache(provider: LocalProvider) -> None:
    sampled = SamplingParams(temperature=1.0, seed=99, max_tokens=24)
    messages = ask("Tell me a story about a cat.")
    first, _ = await reply(provider, messages, sampled)
    await reply(provider, ask("Tell me a story about a dog."))  # leaves a similar prefix cached
    second, last = await reply(provider, messages, sampled)
    assert second == first
    assert last.usage is not None and last.usage.cached_tokens == 0


async def test_cancelling_frees_the_sequence_for_the_next_request(model: LoadedModel) -> None:
    local = make_provider(model, parallel=1)
    try:
        long = await local.open(
            local.model.id,
            [Message(m["role"], m["content"]) for m in long_reply_messages()],  # type: ignore[arg-type]
            SamplingParams(temperature=0, max_tokens=1500),
            as_("a"),
        )
        waiting = asyncio.ensure_future(reply(local, ask("What is 2+2?"), caller="b"))
        seen = 0
        async for _delta in long:
            seen += 1
            if seen == 5:
                break
        at_cancel = local.metrics.generated_tokens._value.get()  # the engine may run ahead of us
        long.cancel()
        text, last = await asyncio.wait_for(waiting, timeout=120)
        assert text and last.finish_reason == "stop"
        assert last.usage is not None
        generated = local.metrics.generated_tokens._value.get()
        # The long reply (1,500 tokens if left alone) stopped within a step of the cancel: at
        # most the token of the step under way (two, if a step began between our two lines).
        assert generated <= at_cancel + 2 + last.usage.completion_tokens
    finally:
        await local.close_engine()


async def test_one_caller_cannot_starve_another(model: LoadedModel) -> None:
    local = make_provider(model, parallel=2)
    order: list[str] = []
    try:
        opened = 0

        async def tracked(name: str, caller: str, question: str) -> None:
            nonlocal opened
            completion = await local.open(local.model.id, ask(question), GREEDY, as_(caller))
            opened += 1
            async for _ in completion:
                order.append(name)
                break
            completion.cancel()

        flood = [tracked(f"a{i}", "flooder", QUESTIONS[i % 6]) for i in range(16)]
        tasks = [asyncio.ensure_future(coro) for coro in flood]
        # The flood is queued first (prompts are tokenized on worker threads, in any order).
        while opened < 16:
            await asyncio.sleep(0.001)
        served_before = len(order)
        tasks.append(asyncio.ensure_future(tracked("b", "other", "What is 2+2?")))
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=300)
        # Two sequences: b gets its first token after the two running requests and one more of
        # the flooder's (round-robin), not after all sixteen. Two more of slack: b reaches the
        # engine's queue a step or two after its open() returns (its prompt is tokenized on a
        # worker thread), while the flood's first tokens keep coming.
        assert order.index("b") <= served_before + 5, (served_before, order)
    finally:
        await local.close_engine()


async def test_a_full_queue_refuses_at_once(model: LoadedModel) -> None:
    local = make_provider(model, parallel=1, max_waiting=2)
    try:
        messages = [Message(m["role"], m["content"]) for m in long_reply_messages()]  # type: ignore[arg-type]
        params = SamplingParams(temperature=0, max_tokens=1500)
        running = await local.open(local.model.id, messages, params, as_("x"))
        first = running.__aiter__()
        await first.__anext__()  # the only sequence is busy
        queued = [await local.open(local.model.id, ask("Hi"), GREEDY, as_("x")) for _ in range(2)]
        assert local.metrics.rejected_requests._value.get() == 0
        with pytest.raises(OverloadedError) as refused:
            await local.open(local.model.id, ask("Hi"), GREEDY, as_("x"))
        assert refused.value.retry_after >= 1
        assert local.metrics.rejected_requests._value.get() == 1
        for completion in (running, *queued):
            completion.cancel()
    finally:
        await local.close_engine()
