"""``logprobs``/``top_logprobs`` and ``n`` on ``/v1/chat/completions`` and ``/v1/completions``,
driven by the official `openai` client against the real app (the model in its engine process):
the shapes OpenAI returns, streamed and not, choice 0 alone stored."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import pytest

from tests.helpers import store_for
from tests.inprocess import InProcess

pytestmark = pytest.mark.anyio

MODEL = "default"
ASK = [{"role": "user", "content": "Write one sentence about a cat who finds something strange."}]


async def chat(app: InProcess, **fields: Any) -> Any:
    """A chat completion of ``ASK`` with ``fields``."""
    async with app.openai() as client:
        return await client.chat.completions.create(model=MODEL, messages=ASK, **fields)


def spelled(entries: list[Any]) -> str:
    """The text the listed tokens spell (their bytes joined)."""
    return bytes(b for entry in entries for b in entry.bytes).decode("utf-8")


def check_entries(entries: list[Any], top: int) -> None:
    for entry in entries:
        assert entry.logprob <= 0 and math.exp(entry.logprob) <= 1
        assert bytes(entry.bytes).decode("utf-8", errors="replace") and entry.token
        values = [alternative.logprob for alternative in entry.top_logprobs]
        assert len(values) == top and values == sorted(values, reverse=True)


async def test_chat_logprobs_of_a_greedy_reply(sqlite_app: InProcess) -> None:
    greedy: dict[str, Any] = {"temperature": 0, "max_tokens": 20}
    greedy["extra_body"] = {"repeat_penalty": 1.0}  # the default 1.1 would shape the pick
    result = await chat(sqlite_app, **greedy, logprobs=True, top_logprobs=3)
    plain = await chat(sqlite_app, **greedy)
    (choice,) = result.choices
    assert choice.logprobs is not None and choice.logprobs.content
    entries = choice.logprobs.content
    check_entries(entries, 3)
    for entry in entries:  # greedy: the likeliest token, every time
        assert entry.token == entry.top_logprobs[0].token
        assert entry.logprob == entry.top_logprobs[0].logprob
    assert spelled(entries).strip() == choice.message.content
    assert plain.choices[0].logprobs is None


async def test_n_choices_each_with_its_index_and_one_usage(sqlite_app: InProcess) -> None:
    async with sqlite_app.openai() as client:
        raw = await client.chat.completions.with_raw_response.create(
            model=MODEL,
            messages=ASK,  # type: ignore[arg-type]
            temperature=1.0,
            seed=42,
            max_tokens=24,
            n=3,
            logprobs=True,
        )
    again = await chat(sqlite_app, temperature=1.0, seed=42, max_tokens=24, n=3, store=False)
    one = await chat(sqlite_app, temperature=1.0, seed=42, max_tokens=24, store=False)
    result = raw.parse()
    assert [choice.index for choice in result.choices] == [0, 1, 2]
    texts = [choice.message.content or "" for choice in result.choices]
    assert all(texts) and len(set(texts)) > 1, texts
    assert texts == [choice.message.content for choice in again.choices]  # seed, seed + 1, ...
    for choice in result.choices:
        assert choice.finish_reason in ("stop", "length")
        assert choice.logprobs is not None and choice.logprobs.content
        check_entries(choice.logprobs.content, 0)
        assert spelled(choice.logprobs.content).strip() == choice.message.content
    usage = result.usage
    assert usage is not None and one.usage is not None
    assert usage.prompt_tokens == one.usage.prompt_tokens  # the prompt, counted once
    listed = sum(
        len(c.logprobs.content) for c in result.choices if c.logprobs and c.logprobs.content
    )
    # unlisted: blanks trimmed, the stop string that ended a choice (the dialogue's "\nUser:")
    assert listed <= usage.completion_tokens <= listed + 3 * 4
    # Stored: the question and choice 0, the reply a client's next call goes on from.
    database, store = store_for(sqlite_app)
    try:
        stored = store.branch(raw.headers["x-causerie-conversation-id"])
        assert [m.content for m in stored][-1] == texts[0]
        assert sum(m.role == "assistant" for m in stored) == 1
    finally:
        database.dispose()


async def test_streamed_choices_and_logprobs(sqlite_app: InProcess) -> None:
    texts: dict[int, str] = defaultdict(str)
    entries: dict[int, list[Any]] = defaultdict(list)
    finishes: dict[int, str] = {}
    usage = None
    async with sqlite_app.openai() as client:
        stream = await client.chat.completions.create(
            model=MODEL,
            messages=ASK,  # type: ignore[arg-type]
            temperature=0.9,
            max_tokens=20,
            n=2,
            logprobs=True,
            top_logprobs=2,
            stream=True,
            stream_options={"include_usage": True},
        )
        async for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                texts[choice.index] += choice.delta.content or ""
                if choice.logprobs is not None and choice.logprobs.content:
                    assert choice.delta.content is not None
                    entries[choice.index] += choice.logprobs.content
                if choice.finish_reason is not None:
                    finishes[choice.index] = choice.finish_reason
    assert sorted(texts) == [0, 1] and sorted(finishes) == [0, 1]
    for index in (0, 1):
        assert texts[index]
        check_entries(entries[index], 2)
        assert spelled(entries[index]).strip() == texts[index]
    assert usage is not None and usage.completion_tokens >= 2


async def test_legacy_completions_logprobs_and_n(sqlite_app: InProcess) -> None:
    prompts = ["The capital of France is", "1, 2, 3, 4,"]
    async with sqlite_app.openai() as client:
        result = await client.completions.create(
            model=MODEL,
            prompt=prompts,
            temperature=0,
            max_tokens=8,
            n=2,
            logprobs=2,
            extra_body={"repeat_penalty": 1.0},  # plain greedy: the chosen token is the top one
        )
        stream = await client.completions.create(
            model=MODEL, prompt=prompts[1], temperature=0, max_tokens=8, logprobs=1, stream=True
        )
        streamed: list[Any] = [chunk async for chunk in stream]
    assert [choice.index for choice in result.choices] == [0, 1, 2, 3]
    assert result.choices[0].text == result.choices[1].text  # greedy: the same twice
    for choice in result.choices:
        logprobs = choice.logprobs
        assert logprobs is not None and logprobs.tokens and logprobs.token_logprobs
        assert "".join(logprobs.tokens) == choice.text  # plain text, nothing trimmed
        assert logprobs.text_offset == [
            len("".join(logprobs.tokens[:i])) for i in range(len(logprobs.tokens))
        ]
        assert logprobs.top_logprobs is not None
        for token, value, top in zip(
            logprobs.tokens, logprobs.token_logprobs, logprobs.top_logprobs, strict=True
        ):
            assert len(top) == 2 and max(top.values()) == value and top[token] == value
    text = "".join(c.choices[0].text for c in streamed if c.choices)
    tokens = [
        t
        for c in streamed
        if c.choices and c.choices[0].logprobs
        for t in c.choices[0].logprobs.tokens
    ]
    offsets = [
        o
        for c in streamed
        if c.choices and c.choices[0].logprobs
        for o in c.choices[0].logprobs.text_offset
    ]
    assert "".join(tokens) == text == result.choices[2].text
    assert offsets == [len("".join(tokens[:i])) for i in range(len(tokens))]
