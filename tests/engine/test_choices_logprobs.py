"""Several choices from one prefilled prompt, and the tokens' logprobs, in the real engine with
the real model (in-process, no HTTP)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from causerie.engine.logprobs import LogprobTrail, token_text
from causerie.engine.model import LoadedModel
from causerie.engine.text import ReplyText
from causerie.errors import InvalidRequestError
from causerie.providers.local import LocalProvider
from causerie.types import Delta, Message, SamplingParams, TokenLogprob, TurnContext
from tests.engine.test_scheduler import make_provider

pytestmark = pytest.mark.anyio

STORY = [Message("user", "Write one sentence about a cat who finds something strange.")]
CONTEXT = TurnContext(fairness_key="test")


@pytest.fixture(scope="module")
def model(model_dir: Path) -> Iterator[LoadedModel]:
    loaded = LoadedModel(next(model_dir.glob("*.gguf")), context_size=4096)
    yield loaded
    loaded.close()


@pytest.fixture
async def provider(model: LoadedModel) -> AsyncIterator[LocalProvider]:
    local = make_provider(model)  # four sequences
    yield local
    await local.close_engine()


class Choices:
    """A finished reply, choice by choice."""

    def __init__(self, deltas: list[Delta]) -> None:
        self.deltas = deltas
        count = 1 + max(d.choice for d in deltas)
        self.texts = ["".join(d.text for d in deltas if d.choice == i) for i in range(count)]
        self.logprobs = [
            [e for d in deltas if d.choice == i for e in d.logprobs] for i in range(count)
        ]
        self.finals = [d for d in deltas if d.finish_reason is not None]


async def run(
    provider: LocalProvider, params: SamplingParams, messages: list[Message] = STORY
) -> Choices:
    completion = await provider.open(provider.model.id, messages, params, CONTEXT)
    return Choices([delta async for delta in completion])


async def test_n_choices_share_the_prompt_and_sample_apart(provider: LocalProvider) -> None:
    params = SamplingParams(temperature=1.0, top_k=0, top_p=1.0, min_p=0, max_tokens=24, n=4)
    reply = await run(provider, params)
    assert len(reply.texts) == 4 and all(reply.texts)
    assert len(set(reply.texts)) > 1, reply.texts  # independent draws, not one copied
    assert sorted(d.choice for d in reply.finals) == [0, 1, 2, 3]
    # The usage, on the last delta only, counts the prompt once and every choice's tokens.
    usage = reply.deltas[-1].usage
    assert usage is not None and sum(d.usage is not None for d in reply.deltas) == 1
    alone = (await run(provider, SamplingParams(temperature=0, max_tokens=24))).deltas[-1].usage
    assert alone is not None and usage.prompt_tokens == alone.prompt_tokens
    assert 4 <= usage.completion_tokens <= 4 * 24
    # Every sequence is free again: four more choices are admitted at once.
    again = await run(provider, params)
    assert len(again.texts) == 4


async def test_a_seed_makes_every_choice_reproducible(provider: LocalProvider) -> None:
    params = SamplingParams(temperature=0.9, max_tokens=20, n=3, seed=1234)
    first, second = await run(provider, params), await run(provider, params)
    assert first.texts == second.texts
    assert len(set(first.texts)) > 1  # each choice its own stream: seed, seed + 1, seed + 2


async def test_greedy_choices_are_identical(provider: LocalProvider) -> None:
    reply = await run(provider, SamplingParams(temperature=0, max_tokens=16, n=2))
    assert reply.texts[0] and reply.texts[0] == reply.texts[1]


async def test_a_request_for_n_waits_for_n_free_sequences(provider: LocalProvider) -> None:
    long = SamplingParams(temperature=0, max_tokens=60)
    busy = asyncio.create_task(run(provider, long))
    await asyncio.sleep(0.2)
    four = await run(provider, SamplingParams(temperature=0.8, max_tokens=8, n=4))
    assert len(four.texts) == 4 and len(four.finals) == 4
    assert (await busy).texts[0]


async def test_more_choices_than_sequences_is_refused(provider: LocalProvider) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        await run(provider, SamplingParams(max_tokens=4, n=5))
    assert refused.value.param == "n" and "parallel" in refused.value.message


def check_logprobs(entries: list[TokenLogprob], top: int) -> None:
    """What any distribution's logprobs must satisfy."""
    for entry in entries:
        assert entry.logprob <= 0 and math.exp(entry.logprob) <= 1
        assert len(entry.top) == top
        values = [choice.logprob for choice in entry.top]
        assert values == sorted(values, reverse=True)
        assert sum(math.exp(v) for v in values) <= 1 + 1e-6
        if top:
            assert entry.logprob <= values[0] + 1e-6


async def test_greedy_tokens_are_the_likeliest_and_spell_the_reply(
    provider: LocalProvider,
) -> None:
    reply = await run(provider, SamplingParams(temperature=0, max_tokens=24, logprobs=5))
    (entries,) = reply.logprobs
    assert len(entries) >= 3
    check_logprobs(entries, 5)
    for entry in entries:  # greedy takes the likeliest token
        assert entry.top[0].raw == entry.raw and entry.logprob == entry.top[0].logprob
    spelled = b"".join(entry.raw for entry in entries).decode("utf-8")
    assert spelled.strip() == reply.texts[0]  # a chat reply's blanks trimmed, tokens kept
    # In the stream, each delta lists the tokens of its own text.
    for delta in reply.deltas:
        if delta.logprobs and delta.finish_reason is None:
            assert delta.text
    plain = await run(provider, SamplingParams(temperature=0, max_tokens=24))
    assert plain.texts[0] and not plain.logprobs[0]  # none unless asked for


async def test_sampled_choices_report_their_own_tokens(provider: LocalProvider) -> None:
    params = SamplingParams(temperature=1.0, max_tokens=16, n=2, seed=7, logprobs=0)
    reply = await run(provider, params)
    for text, entries in zip(reply.texts, reply.logprobs, strict=True):
        check_logprobs(entries, 0)
        assert b"".join(e.raw for e in entries).decode("utf-8").strip() == text


async def test_tokens_stop_where_the_text_stops(provider: LocalProvider) -> None:
    """A stop string cuts the reply: the tokens that produced only the stop string (and what
    followed) are not listed; the token it starts in is."""
    count = [Message("user", "1, 2, 3, 4, 5, 6, 7, 8, 9, 10,")]
    raw = SamplingParams(temperature=0, max_tokens=16, logprobs=1, raw_prompt=True)
    whole = await run(provider, raw, count)
    assert "13" in whole.texts[0], whole.texts
    cut = await run(provider, replace(raw, stop=("13",)), count)
    text = cut.texts[0]
    assert text and "13" not in text and whole.texts[0].startswith(text)
    spelled = b"".join(e.raw for e in cut.logprobs[0]).decode("utf-8")
    assert spelled.startswith(text)
    assert len(b"".join(e.raw for e in cut.logprobs[0][:-1]).decode("utf-8")) < len(text)
    assert [e.raw for e in cut.logprobs[0]] == [e.raw for e in whole.logprobs[0]][
        : len(cut.logprobs[0])
    ]


def entry(raw: bytes) -> TokenLogprob:
    return TokenLogprob(token_text(raw), -0.5, raw)


def test_a_character_split_across_tokens_keeps_its_bytes() -> None:
    """ "é" as two tokens of one byte each: both are listed with their bytes, written as
    escaped bytes; trimmed blanks and a stop string's tokens are not listed."""
    pieces = [b" ", b"caf", b"\xc3", b"\xa9", b"!", b" END", b" more"]
    text, trail, listed = ReplyText(("END",)), LogprobTrail(), []
    shown = ""
    for raw in pieces:
        trail.add(entry(raw))
        shown += text.feed(raw)
        listed += trail.shown(text.lead, text.shown)
        if text.stopped:
            break
    shown += text.finish()
    listed += trail.finish(text.lead, text.shown)
    assert shown == "café!"
    assert [e.raw for e in listed] == [b"caf", b"\xc3", b"\xa9", b"!"]
    assert [e.token for e in listed[1:3]] == ["bytes:\\xc3", "bytes:\\xa9"]
    assert b"".join(e.raw for e in listed).decode("utf-8") == shown
