"""The engine seen through the API: 429 with Retry-After, cached tokens, /metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import Server, sqlite_server_with
from tests.helpers import client_for, long_stream_body


@pytest.fixture(scope="module")
def busy_server(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[Server]:
    """One sequence and no waiting room: a second concurrent request must be refused."""
    yield from sqlite_server_with(
        tmp_path_factory.mktemp("busy"), model_dir, CAUSERIE_PARALLEL="1", CAUSERIE_MAX_WAITING="0"
    )


@pytest.mark.slow  # a server of its own
def test_overload_is_a_quick_429_with_retry_after(busy_server: Server) -> None:
    body = long_stream_body(1500)
    with (
        client_for(busy_server) as client,
        httpx.stream(
            "POST", f"{busy_server.url}/v1/chat/completions", json=body, timeout=60
        ) as response,
    ):
        assert response.status_code == 200
        lines = response.iter_lines()  # kept referenced: closing it would drop the connection
        for line in lines:
            if '"content":"' in line and '"role"' not in line:
                break  # the only sequence is now busy
        started = time.monotonic()
        with pytest.raises(openai.RateLimitError) as refused:
            client.chat.completions.create(
                model="default", messages=[{"role": "user", "content": "Hi"}], max_tokens=2
            )
        assert time.monotonic() - started < 2  # at once, not after a timeout
    error = refused.value
    assert error.status_code == 429
    assert int(error.response.headers["retry-after"]) >= 1
    assert error.code == "server_overloaded"
    metrics = httpx.get(f"{busy_server.url}/metrics").text
    rejected = [line for line in metrics.splitlines() if line.startswith("causerie_rejected")]
    assert "causerie_rejected_requests_total 1.0" in rejected, rejected


def test_second_turn_reports_cached_tokens(server: Server) -> None:
    with client_for(server) as client:
        question = {"role": "user", "content": "What is the capital of Spain?"}
        first = client.chat.completions.create(
            model="default", messages=[question], max_tokens=16, temperature=0
        )
        history = [
            question,
            {"role": "assistant", "content": first.choices[0].message.content or ""},
            {"role": "user", "content": "And of Portugal?"},
        ]
        second = client.chat.completions.create(
            model="default", messages=history, max_tokens=16, temperature=0
        )
    assert first.usage is not None and second.usage is not None
    details = second.usage.prompt_tokens_details
    assert details is not None and details.cached_tokens is not None
    assert first.usage.prompt_tokens - 2 <= details.cached_tokens < second.usage.prompt_tokens


def test_metrics_are_prometheus_text(server: Server) -> None:
    with client_for(server) as client:
        client.chat.completions.create(
            model="default", messages=[{"role": "user", "content": "Hi"}], max_tokens=3
        )
    response = httpx.get(f"{server.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for name in (
        "causerie_queue_depth",
        "causerie_active_sequences",
        "causerie_prompt_tokens_total",
        "causerie_cached_prompt_tokens_total",
        "causerie_generated_tokens_total",
        "causerie_time_to_first_token_seconds_bucket",
        "causerie_inter_token_latency_seconds_bucket",
    ):
        assert name in text
    generated = next(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("causerie_generated_tokens_total")
    )
    assert generated >= 1
    active = next(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("causerie_active_sequences ")
    )
    assert active == 0  # idle again (it used to keep the count of the last step)
