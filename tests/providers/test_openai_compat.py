"""``OpenAICompatProvider`` against a real upstream `causerie serve` (and a Relay in front of it
where the upstream must answer 429 or 503)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from causerie.errors import (
    ContextLengthExceededError,
    ModelNotFoundError,
    ProviderUnavailableError,
    RateLimitedError,
)
from causerie.providers.config import ProviderConfig
from causerie.providers.openai_compat import OpenAICompatProvider
from causerie.types import Delta, Message, SamplingParams, TurnContext
from tests.conftest import Server, free_port
from tests.helpers import client_for
from tests.providers.relay import Relay

MODEL = "gemma-3-270m-q4_k_m"
QUESTION = [Message("user", "What is the capital of France?")]
GREEDY = SamplingParams(max_tokens=8, temperature=0)


def provider(base_url: str, **fields: Any) -> OpenAICompatProvider:
    config = ProviderConfig(name="up", base_url=base_url, privacy="trusted", **fields)
    return OpenAICompatProvider(config)


async def collect(up: OpenAICompatProvider, **kwargs: Any) -> list[Delta]:
    try:
        completion = await up.open(
            kwargs.get("model", MODEL),
            kwargs.get("messages", QUESTION),
            kwargs.get("params", GREEDY),
            TurnContext(),
        )
        return [delta async for delta in completion]
    finally:
        await up.close()


def test_streams_text_finish_reason_and_usage_like_the_upstream(upstream: Server) -> None:
    deltas = asyncio.run(collect(provider(upstream.api_url)))
    *pieces, final = deltas
    assert pieces and all(d.text and d.finish_reason is None for d in pieces)
    assert final.text == "" and final.finish_reason in ("stop", "length")
    direct = client_for(upstream).chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": QUESTION[0].content}],
        max_tokens=8,
        temperature=0,
    )
    assert "".join(d.text for d in pieces) == direct.choices[0].message.content
    assert final.finish_reason == direct.choices[0].finish_reason
    assert final.usage is not None and direct.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (
        direct.usage.prompt_tokens,
        direct.usage.completion_tokens,
    )


def test_nothing_after_done_is_taken_for_the_reply(relay: Relay) -> None:
    """The body is read to its end (so that its connection is kept), but an event an upstream
    sends after ``data: [DONE]`` is not part of the reply."""
    junk = b'data: {"choices":[{"index":0,"delta":{"content":"TRAILING"}}]}\n\n'
    relay.trailer = junk
    try:
        deltas = asyncio.run(collect(provider(relay.api_url)))
    finally:
        relay.trailer = b""
    assert deltas and "TRAILING" not in "".join(d.text for d in deltas)
    assert deltas[-1].finish_reason in ("stop", "length")


def test_discovers_models_from_the_upstream(upstream: Server) -> None:
    up = provider(upstream.api_url)

    async def probe() -> list[str]:
        try:
            return await up.probe()
        finally:
            await up.close()

    # The upstream is a Causerie: it lists its model, then the other names it accepts.
    assert up.discover() == [MODEL, "default"]
    assert [info.id for info in up.models()] == [MODEL, "default"]
    assert asyncio.run(probe()) == [MODEL, "default"]


def test_connection_refused_fails_before_streaming() -> None:
    with pytest.raises(ProviderUnavailableError, match="could not be reached"):
        asyncio.run(collect(provider(f"http://127.0.0.1:{free_port()}/v1")))


def test_no_first_token_in_time_fails_before_streaming(upstream: Server) -> None:
    up = provider(upstream.api_url, first_token_timeout=0.001)
    with pytest.raises(ProviderUnavailableError, match="no token within"):
        asyncio.run(collect(up))


def test_upstream_context_error_is_the_callers_400_with_its_message(upstream: Server) -> None:
    params = SamplingParams(max_tokens=8, temperature=0)
    too_long = [Message("user", "word " * 6000)]  # more than the upstream's context
    with pytest.raises(ContextLengthExceededError, match="maximum context length"):
        asyncio.run(collect(provider(upstream.api_url), messages=too_long, params=params))


def test_unknown_upstream_model_is_model_not_found(upstream: Server) -> None:
    with pytest.raises(ModelNotFoundError, match="no-such-model"):
        asyncio.run(collect(provider(upstream.api_url), model="no-such-model"))


def test_429_carries_retry_after_and_5xx_is_unavailable(relay: Relay) -> None:
    relay.force(429, retry_after="7")
    with pytest.raises(RateLimitedError) as caught:
        asyncio.run(collect(provider(relay.api_url)))
    assert caught.value.retry_after == 7
    relay.force(502)
    with pytest.raises(ProviderUnavailableError, match="answered 502"):
        asyncio.run(collect(provider(relay.api_url)))
    assert relay.calls == 2


def test_api_key_comes_from_the_named_environment_variable(
    relay: Relay, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_UPSTREAM_KEY", "sk-test-123")
    up = provider(relay.api_url, api_key_env="TEST_UPSTREAM_KEY", headers={"X-Team": "blue"})
    assert up.headers() == {"X-Team": "blue", "Authorization": "Bearer sk-test-123"}
    deltas = asyncio.run(collect(up))
    assert deltas[-1].finish_reason is not None
    assert relay.bodies[-1]["stream_options"] == {"include_usage": True}
    assert relay.bodies[-1]["max_tokens"] == 8


def test_rejected_credentials_make_the_upstream_unavailable(relay: Relay) -> None:
    relay.force(401)
    with pytest.raises(ProviderUnavailableError, match="check its API key"):
        asyncio.run(collect(provider(relay.api_url)))


def test_max_concurrency_turns_an_extra_request_away(upstream: Server) -> None:
    up = provider(upstream.api_url, max_concurrency=1, connect_timeout=0.5)

    async def main() -> None:
        try:
            first = await up.open(MODEL, QUESTION, GREEDY, TurnContext())
            with pytest.raises(RateLimitedError, match="concurrency limit"):
                await up.open(MODEL, QUESTION, GREEDY, TurnContext())
            async for _ in first:
                pass
            second = await up.open(MODEL, QUESTION, GREEDY, TurnContext())  # the slot is free again
            assert [d async for d in second][-1].finish_reason is not None
        finally:
            await up.close()

    asyncio.run(main())


def test_n_and_logprobs_pass_through_and_come_back_by_choice(upstream: Server) -> None:
    """The upstream (a Causerie, which gives both) receives ``n`` and ``logprobs``; its choices
    come back under their indexes, each with its tokens, and the usage once, at the end."""
    params = SamplingParams(max_tokens=12, temperature=0.8, seed=5, n=2, logprobs=2)
    deltas = asyncio.run(collect(provider(upstream.api_url), params=params))
    finals = [d for d in deltas if d.finish_reason is not None]
    assert sorted(d.choice for d in finals) == [0, 1]
    assert [d.usage is not None for d in deltas].count(True) == 1 and deltas[-1].usage
    for choice in (0, 1):
        text = "".join(d.text for d in deltas if d.choice == choice)
        entries = [e for d in deltas if d.choice == choice for e in d.logprobs]
        assert text and entries and all(len(e.top) == 2 for e in entries)
        assert b"".join(e.raw for e in entries).decode("utf-8").strip() == text
    raw = SamplingParams(max_tokens=6, temperature=0, logprobs=1, raw_prompt=True)
    legacy = asyncio.run(collect(provider(upstream.api_url), params=raw))
    entries = [e for d in legacy for e in d.logprobs]
    assert entries and "".join(e.token for e in entries) == "".join(d.text for d in legacy)
    assert all(len(e.top) == 1 for e in entries)
