"""Function calling through a remote provider: a real `causerie serve` proxy in front of a second
real `causerie serve` upstream, with a Relay between them that records both directions. Tool
definitions and tool turns go upstream unchanged (or redacted, for an external provider); the
upstream's streamed tool calls come back with ids, indexes, argument pieces, usage and finish
reason intact."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from tests.conftest import Server
from tests.helpers import client_for
from tests.providers.conftest import start_server
from tests.providers.relay import Relay

MODEL = "gemma-3-270m-q4_k_m"
WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
        "strict": False,
    },
}
EMAIL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "send_email",
        "description": "Send an e-mail.",
        "parameters": {
            "type": "object",
            "properties": {"to": {"type": "string"}, "text": {"type": "string"}},
            "required": ["to", "text"],
        },
    },
}


class RecordingRelay(Relay):
    """A Relay that also keeps what the upstream answered, byte for byte."""

    def __init__(self, target_api_url: str) -> None:
        super().__init__(target_api_url)
        self.answers: list[bytes] = []

    async def _handle(self, request: Request) -> Response:
        response = await super()._handle(request)
        if not isinstance(response, StreamingResponse):
            return response
        inner = response.body_iterator
        recorded = bytearray()
        self.answers.append(b"")
        slot = len(self.answers) - 1

        async def recording() -> AsyncIterator[bytes]:
            async for piece in inner:
                data = piece.encode() if isinstance(piece, str) else bytes(piece)
                recorded.extend(data)
                self.answers[slot] = bytes(recorded)
                yield data

        response.body_iterator = recording()
        return response


def sse_events(raw: bytes) -> list[dict[str, Any]]:
    return [
        json.loads(line[6:])
        for line in raw.decode().splitlines()
        if line.startswith("data: ") and line != "data: [DONE]"
    ]


def pieces_of(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Every tool-call piece of a stream: (index, id, type, name, arguments)."""
    return [
        (
            call["index"],
            call.get("id"),
            call.get("type"),
            call.get("function", {}).get("name"),
            call.get("function", {}).get("arguments"),
        )
        for event in events
        for choice in event["choices"]
        for call in choice["delta"].get("tool_calls") or []
    ]


@pytest.fixture(scope="module")
def recording_relay(upstream: Server) -> Iterator[RecordingRelay]:
    relay = RecordingRelay(upstream.api_url)
    relay.start()
    try:
        yield relay
    finally:
        relay.stop()


@pytest.fixture(scope="module")
def proxy(
    tmp_path_factory: pytest.TempPathFactory, model_dir: Path, recording_relay: RecordingRelay
) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("tool-proxy")
    path = data / "providers.toml"
    path.write_text(
        f"""
[privacy]
names = ["Alice Martin"]

[providers.up]
base_url = "{recording_relay.api_url}"
privacy = "trusted"
models = ["{MODEL}"]

[providers.ext]
base_url = "{recording_relay.api_url}"
privacy = "external"
models = ["{MODEL}"]
"""
    )
    server = start_server(data, model_dir, CAUSERIE_PROVIDERS_FILE=str(path))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def client(proxy: Server) -> Iterator[openai.OpenAI]:
    with client_for(proxy) as client:
        yield client


def test_streamed_tool_call_is_relayed_intact(
    client: openai.OpenAI, recording_relay: RecordingRelay
) -> None:
    messages = [{"role": "user", "content": "What is the weather like in Paris today?"}]
    chunks = list(
        client.chat.completions.create(
            model=f"up/{MODEL}",
            messages=messages,  # type: ignore[arg-type]
            tools=[WEATHER],
            tool_choice="required",
            parallel_tool_calls=False,
            temperature=0,
            max_tokens=40,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    sent = recording_relay.bodies[-1]
    assert sent["tools"] == [WEATHER] and sent["tool_choice"] == "required"
    assert sent["parallel_tool_calls"] is False and sent["messages"] == messages
    upstream = sse_events(recording_relay.answers[-1])
    relayed = pieces_of([chunk.model_dump() for chunk in chunks])
    assert relayed == pieces_of(upstream)
    assert len(relayed) > 3 and relayed[0][1].startswith("call_")  # pieces, not one blob
    assert relayed[0][2:4] == ("function", "get_weather")
    assert json.loads("".join(piece[4] for piece in relayed))["city"]
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == ["tool_calls"]
    usage = next(event["usage"] for event in upstream if event.get("usage"))
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == usage["prompt_tokens"]
    assert chunks[-1].usage.completion_tokens == usage["completion_tokens"]


def test_named_choice_and_history_go_upstream_unchanged(
    client: openai.OpenAI, recording_relay: RecordingRelay
) -> None:
    question = [{"role": "user", "content": "Is it warm in Lisbon right now?"}]
    first = client.chat.completions.with_raw_response.create(
        model=f"up/{MODEL}",
        messages=question,  # type: ignore[arg-type]
        tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        temperature=0,
        max_tokens=40,
    )
    assert recording_relay.bodies[-1]["tool_choice"] == {
        "type": "function",
        "function": {"name": "get_weather"},
    }
    reply = first.parse().choices[0]
    assert reply.finish_reason == "tool_calls" and reply.message.content is None
    call = (reply.message.tool_calls or [])[0]
    upstream_call = pieces_of(sse_events(recording_relay.answers[-1]))[0]
    assert (call.id, call.function.name) == (upstream_call[1], upstream_call[3])
    history = [
        *question,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "31 degrees, clear sky"},
    ]
    second = client.chat.completions.with_raw_response.create(
        model=f"up/{MODEL}",
        messages=history,  # type: ignore[arg-type]
        tools=[WEATHER],
        temperature=0,
        max_tokens=16,
    )
    assert recording_relay.bodies[-1]["messages"] == history
    assert recording_relay.bodies[-1]["tool_choice"] == "auto"
    answer = second.parse().choices[0]
    assert answer.message.content and answer.finish_reason in ("stop", "length")
    conversation = first.headers["x-causerie-conversation-id"]
    assert conversation and second.headers["x-causerie-conversation-id"] == conversation


def email_call(call_id: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": "send_email", "arguments": json.dumps(arguments)},
    }


def test_external_provider_gets_redacted_tool_turns_and_arguments_come_back_restored(
    client: openai.OpenAI, recording_relay: RecordingRelay
) -> None:
    history = [  # one earlier exchange, so that the small model copies the address it is given
        {"role": "user", "content": "Send an e-mail to bob@example.org: hi"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [email_call("call_1", {"to": "bob@example.org", "text": "hi"})],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "Delivered to Alice Martin."},
        {"role": "assistant", "content": "Done."},
        {"role": "user", "content": "Send an e-mail to alice@example.com: lunch at noon."},
    ]
    response = client.chat.completions.create(
        model=f"ext/{MODEL}",
        messages=history,  # type: ignore[arg-type]
        tools=[EMAIL],
        tool_choice="required",
        temperature=0,
        max_tokens=60,
    )
    sent = recording_relay.bodies[-1]["messages"]
    assert "@example" not in json.dumps(sent) and "Alice Martin" not in json.dumps(sent)
    assert json.loads(sent[1]["tool_calls"][0]["function"]["arguments"]) == {
        "to": "[EMAIL_1]",
        "text": "hi",
    }
    assert sent[1]["tool_calls"][0]["id"] == "call_1"
    assert sent[2] == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": "Delivered to [NAME_1].",
    }
    assert sent[4]["content"] == "Send an e-mail to [EMAIL_2]: lunch at noon."
    upstream_arguments = "".join(
        piece[4] or "" for piece in pieces_of(sse_events(recording_relay.answers[-1]))
    )
    assert json.loads(upstream_arguments)["to"] == "[EMAIL_2]"  # the model copied the placeholder
    call = (response.choices[0].message.tool_calls or [])[0]
    assert json.loads(call.function.arguments)["to"] == "alice@example.com"  # restored
    assert response.choices[0].finish_reason == "tool_calls"


def test_a_number_that_hides_personal_data_is_redacted_in_arguments(
    client: openai.OpenAI, recording_relay: RecordingRelay
) -> None:
    card = {"to": "ops", "card": 4111111111111111, "count": 3}
    history = [
        {"role": "user", "content": "Pay with my card."},
        {"role": "assistant", "content": None, "tool_calls": [email_call("call_9", card)]},
        {"role": "tool", "tool_call_id": "call_9", "content": "ok"},
    ]
    client.chat.completions.create(
        model=f"ext/{MODEL}",
        messages=history,  # type: ignore[arg-type]
        tools=[EMAIL],
        temperature=0,
        max_tokens=4,
    )
    sent = recording_relay.bodies[-1]["messages"]
    assert json.loads(sent[1]["tool_calls"][0]["function"]["arguments"]) == {
        "to": "ops",
        "card": "[CARD_1]",
        "count": 3,
    }


def test_a_response_format_goes_upstream_unchanged_and_its_reply_comes_back(
    client: openai.OpenAI, recording_relay: RecordingRelay
) -> None:
    """A remote provider gets the request's ``response_format`` as it was sent (the upstream,
    a Causerie too, enforces it); the reply comes back as it answered."""
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "warm": {"type": "boolean"}},
        "required": ["city", "warm"],
        "additionalProperties": False,
    }
    response_format: Any = {
        "type": "json_schema",
        "json_schema": {"name": "weather", "schema": schema, "strict": True},
    }
    answer = client.chat.completions.create(
        model=f"up/{MODEL}",
        messages=[{"role": "user", "content": "Is it warm in Lisbon in July?"}],
        response_format=response_format,
        temperature=0,
        max_tokens=60,
    )
    assert recording_relay.bodies[-1]["response_format"] == response_format
    reply = json.loads(answer.choices[0].message.content or "")
    assert set(reply) == {"city", "warm"} and isinstance(reply["warm"], bool)
