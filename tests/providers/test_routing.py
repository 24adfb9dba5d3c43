"""Routing and failover through ``ProviderRegistry`` with real upstreams: a `causerie serve`,
a closed port, and a Relay that answers 429/503 on demand."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from causerie.errors import ProviderError, ProviderUnavailableError
from causerie.providers.config import parse_providers
from causerie.providers.registry import ProviderRegistry
from causerie.types import Delta, Message, SamplingParams, TurnContext
from tests.conftest import Server, free_port
from tests.helpers import long_reply_messages
from tests.providers.conftest import start_server
from tests.providers.relay import Relay

MODEL = "gemma-3-270m-q4_k_m"
QUESTION = [Message("user", "What is the capital of France?")]
SHORT = SamplingParams(max_tokens=4, temperature=0)


def registry_for(
    providers: dict[str, str], aliases: dict[str, list[str]], **fields: Any
) -> ProviderRegistry:
    routing = fields.pop("routing", {})
    config = parse_providers(
        {
            "providers": {
                name: {"base_url": url, "privacy": "trusted", "models": [MODEL], **fields}
                for name, url in providers.items()
            },
            "aliases": aliases,
            "routing": routing,
        },
        environ={},
    )
    registry = ProviderRegistry()
    registry.configure(config)
    return registry


async def ask(registry: ProviderRegistry, name: str = "default") -> tuple[str, list[Delta]]:
    """Resolve and stream one short reply; returns who served it and the deltas."""
    provider, model = registry.resolve(name)
    completion = await provider.open(model, QUESTION, SHORT, TurnContext())
    deltas = [delta async for delta in completion]
    return str(getattr(completion, "served_by", "")), deltas


def run(registry: ProviderRegistry, work: Callable[[], Awaitable[None]]) -> None:
    async def main() -> None:
        try:
            await work()
        finally:
            await registry.close()

    asyncio.run(main())


def test_fails_over_when_the_first_target_is_down(upstream: Server) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    registry = registry_for(
        {"dead": dead, "up": upstream.api_url}, {"default": ["dead", "up"]}, breaker_failures=1
    )

    async def work() -> None:
        served_by, deltas = await ask(registry)
        assert served_by == f"up/{MODEL}"
        assert deltas[-1].finish_reason is not None and deltas[-1].usage is not None
        assert registry.breaker_state("dead") == "open"
        assert registry.resolve("default")[1] == "default"  # several targets: the alias

    run(registry, work)


def test_circuit_breaker_skips_a_dead_upstream_until_it_recovers(
    relay: Relay, upstream: Server
) -> None:
    registry = registry_for(
        {"flaky": relay.api_url, "backup": upstream.api_url},
        {"default": ["flaky", "backup"]},
        breaker_failures=1,
        breaker_cooldown=4.0,
    )
    relay.down = True

    async def work() -> None:
        assert (await ask(registry))[0] == f"backup/{MODEL}"
        assert relay.calls == 1
        assert (await ask(registry))[0] == f"backup/{MODEL}"
        assert relay.calls == 1  # skipped: the breaker is open
        relay.down = False
        deadline = time.monotonic() + 10
        while registry.breaker_state("flaky") == "open" and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert (await ask(registry))[0] == f"flaky/{MODEL}"  # the trial after the cool-down
        assert relay.calls == 2 and registry.breaker_state("flaky") == "closed"

    run(registry, work)


def test_short_retry_after_retries_the_same_upstream(relay: Relay, upstream: Server) -> None:
    registry = registry_for(
        {"limited": relay.api_url, "backup": upstream.api_url},
        {"default": ["limited", "backup"]},
        routing={"max_retry_wait": 2},
    )
    relay.force(429, retry_after="1")

    async def work() -> None:
        started = time.monotonic()
        served_by, _ = await ask(registry)
        assert served_by == f"limited/{MODEL}"
        assert time.monotonic() - started >= 1.0
        assert relay.calls == 2

    run(registry, work)


def test_long_retry_after_fails_over_and_holds_the_upstream(relay: Relay, upstream: Server) -> None:
    registry = registry_for(
        {"limited": relay.api_url, "backup": upstream.api_url},
        {"default": ["limited", "backup"]},
        routing={"max_retry_wait": 2},
    )
    relay.force(429, retry_after="120")

    async def work() -> None:
        assert (await ask(registry))[0] == f"backup/{MODEL}"
        assert (await ask(registry))[0] == f"backup/{MODEL}"
        assert relay.calls == 1  # held for its Retry-After, not asked again
        assert registry.breaker_state("limited") == "held"

    run(registry, work)


def test_single_upstream_429_reaches_the_caller(relay: Relay) -> None:
    registry = registry_for({"limited": relay.api_url}, {})
    relay.force(429, retry_after="30")

    async def work() -> None:
        with pytest.raises(ProviderUnavailableError, match="429") as caught:
            await ask(registry, f"limited/{MODEL}")
        assert getattr(caught.value, "retry_after", None) == 30

    run(registry, work)


def test_a_stream_under_way_is_never_replayed_elsewhere(
    tmp_path: Path, model_dir: Path, relay: Relay
) -> None:
    doomed = start_server(tmp_path, model_dir)
    try:
        registry = registry_for(
            {"doomed": doomed.api_url, "backup": relay.api_url}, {"default": ["doomed", "backup"]}
        )
        messages = [Message(m["role"], m["content"]) for m in long_reply_messages()]  # type: ignore[arg-type]

        async def work() -> None:
            provider, model = registry.resolve("default")
            completion = await provider.open(
                model, messages, SamplingParams(max_tokens=300, temperature=0), TurnContext()
            )
            received: list[str] = []
            with pytest.raises(ProviderError, match="middle of the reply"):
                async for delta in completion:
                    received.append(delta.text)
                    if len(received) == 2:
                        assert doomed.process is not None
                        doomed.process.kill()  # the upstream dies mid-stream
            assert len(received) >= 2
            assert relay.calls == 0  # the backup never saw the request

        run(registry, work)
    finally:
        doomed.stop()


def test_prices_follow_the_model_that_served() -> None:
    config = parse_providers(
        {
            "providers": {
                "paid": {
                    "base_url": "http://127.0.0.1:9/v1",
                    "models": ["big"],
                    "privacy": "trusted",
                    "price": {"input": 1.5, "output": 6},
                }
            }
        },
        environ={},
    )
    registry = ProviderRegistry()
    registry.configure(config)
    assert registry.price_of("paid/big") == (1.5, 6.0)
    assert registry.price_of("gemma-3-270m-q4_k_m") == (0.0, 0.0)  # local
    assert registry.price_of("unknown/model") == (0.0, 0.0)


def test_only_a_turn_that_may_pass_the_firewall_reads_the_private_names() -> None:
    """``ChatService`` reads a user's private names for a turn only when its provider, or one
    of its route's targets, stands behind the privacy firewall (no upstream is called here)."""
    providers = {
        "home": {"base_url": "http://127.0.0.1:9/v1", "privacy": "trusted", "models": [MODEL]},
        "cloud": {"base_url": "http://127.0.0.1:9/v1", "privacy": "external", "models": [MODEL]},
    }
    aliases = {"mixed": ["home", "cloud"], "safe": ["home"]}
    registry = ProviderRegistry()
    registry.configure(parse_providers({"providers": providers, "aliases": aliases}, environ={}))
    assert registry.redacts
    firewalled = {
        name: registry.redacts_for(registry.resolve(name)[0])
        for name in (f"home/{MODEL}", f"cloud/{MODEL}", "mixed", "safe")
    }
    assert firewalled == {
        f"home/{MODEL}": False,
        f"cloud/{MODEL}": True,
        "mixed": True,
        "safe": False,
    }
