"""Forced tool calls on the local model: the grammar, the streaming reader, and the real model
constrained by the grammar in-process (no HTTP)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from causerie.engine.grammar import ToolCallReader, call_text, tool_call_grammar
from causerie.engine.model import LoadedModel
from causerie.engine.sampling import GrammarError, check_grammar
from causerie.engine.templates import DIALOGUE, plain_turns
from causerie.errors import InvalidRequestError
from causerie.providers.local import LocalProvider
from causerie.types import (
    Delta,
    Message,
    SamplingParams,
    ToolCall,
    ToolSpec,
    ToolUse,
    TurnContext,
)
from tests.engine.test_scheduler import make_provider

pytestmark = pytest.mark.anyio

WEATHER = ToolSpec(
    "get_weather",
    "Get the current weather in a city.",
    {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "The city, e.g. Paris"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city"],
    },
)
ORDER = ToolSpec(
    "place_order",
    "Order items from the shop.",
    {
        "type": "object",
        "properties": {
            "items": {
                "type": "array",
                "items": {"$ref": "#/$defs/item"},
                "minItems": 1,
                "maxItems": 3,
            },
            "express": {"type": "boolean"},
        },
        "required": ["items", "express"],
        "$defs": {
            "item": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "maxLength": 20},
                    "quantity": {"type": "integer"},  # bounds are not enforced
                },
                "required": ["name", "quantity"],
            }
        },
    },
)
PING = ToolSpec("ping", "Check that the service is up.")  # no parameters at all
TIME = ToolSpec(
    "get_time",
    "Get the current time in a time zone.",
    {"type": "object", "properties": {"timezone": {"type": "string"}}, "required": ["timezone"]},
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def model(model_dir: Path) -> Iterator[LoadedModel]:
    loaded = LoadedModel(next(model_dir.glob("*.gguf")), context_size=4096)
    yield loaded
    loaded.close()


@pytest.fixture
async def provider(model: LoadedModel) -> AsyncIterator[LocalProvider]:
    local = make_provider(model, parallel=2)
    yield local
    await local.close_engine()


def arguments_of(deltas: list[Delta]) -> tuple[str, str]:
    """(function name, arguments text) of call 0, joined from the streamed pieces."""
    pieces = [piece for delta in deltas for piece in delta.tool_calls]
    assert pieces and all(piece.index == 0 for piece in pieces)
    assert pieces[0].id and pieces[0].id.startswith("call_") and pieces[0].name
    assert all(piece.id is None and piece.name is None for piece in pieces[1:])
    return pieces[0].name, "".join(piece.arguments for piece in pieces)


async def call(
    provider: LocalProvider, question: str, tools: ToolUse, max_tokens: int = 80
) -> list[Delta]:
    params = SamplingParams(temperature=0, max_tokens=max_tokens, tools=tools)
    completion = await provider.open(
        provider.model.id, [Message("user", question)], params, TurnContext()
    )
    return [delta async for delta in completion]


def test_llama_cpp_accepts_the_grammar_of_every_kind_of_schema(model: LoadedModel) -> None:
    grammar = tool_call_grammar([WEATHER, ORDER, PING])
    assert grammar.startswith('root ::= "{\\"name\\": \\"" ( "get_weather\\", \\"arguments\\": "')
    check_grammar(model.vocab, grammar)
    with pytest.raises(GrammarError):
        check_grammar(model.vocab, 'root ::= "unclosed')


def test_a_class_that_matches_nothing_is_refused_before_sampling(model: LoadedModel) -> None:
    # llama.cpp parses this grammar, then aborts the process while sampling with it.
    with pytest.raises(GrammarError, match="runs backwards"):
        check_grammar(model.vocab, "root ::= [z-a]")


def test_an_invalid_pattern_is_refused() -> None:
    bad = ToolSpec("f", "", {"type": "object", "properties": {"a": {"pattern": "^[z-a]$"}}})
    with pytest.raises(ValueError, match="not a valid regular expression"):
        tool_call_grammar([bad])
    # A property *named* "pattern" is not a regular expression.
    named = ToolSpec("g", "", {"type": "object", "properties": {"pattern": {"type": "string"}}})
    assert "pattern" in tool_call_grammar([named])


def test_a_schema_the_grammar_cannot_express_is_refused() -> None:
    remote = ToolSpec("f", "", {"type": "object", "properties": {"a": {"$ref": "https://x/y"}}})
    with pytest.raises(ValueError, match="cannot be enforced"):
        tool_call_grammar([remote])


def test_the_reader_gives_the_same_call_however_the_text_is_cut() -> None:
    text = '{"name": "get_weather", "arguments": {"city": "Paris {}", "n": [1, {}]} }'
    for cut in range(len(text) + 1):
        for second_cut in (cut, min(len(text), cut + 7)):
            reader = ToolCallReader()
            pieces = reader.feed(text[:cut]) + reader.feed(text[cut:second_cut])
            pieces += reader.feed(text[second_cut:]) + reader.finish(complete=True)
            assert pieces[0].name == "get_weather" and pieces[0].id == reader.id
            assert "".join(p.arguments for p in pieces) == '{"city": "Paris {}", "n": [1, {}]}'


def test_a_call_cut_short_keeps_what_it_has() -> None:
    reader = ToolCallReader()
    pieces = reader.feed('{"name": "get_weather", "arguments": {"city": "Par')
    pieces += reader.finish(complete=False)
    assert "".join(p.arguments for p in pieces) == '{"city": "Par'
    assert ToolCallReader().feed('{"name": "get_wea') == []


def test_history_with_calls_and_results_renders_as_plain_turns() -> None:
    history = [
        Message("user", "Weather in Paris and Rome?"),
        Message(
            "assistant",
            "",
            (
                ToolCall("call_1", "get_weather", '{"city":"Paris"}'),
                ToolCall("call_2", "get_weather", '{"city":"Rome"}'),
            ),
        ),
        Message("tool", "18 C, sunny", tool_call_id="call_1"),
        Message("tool", "24 C, cloudy", tool_call_id="call_2"),
    ]
    turns = plain_turns(history)
    assert [t.role for t in turns] == ["user", "assistant", "user"]
    assert turns[1].content == (
        '{"name": "get_weather", "arguments": {"city": "Paris"}}\n'
        '{"name": "get_weather", "arguments": {"city": "Rome"}}'
    )
    assert turns[2].content == (
        "Result of get_weather: 18 C, sunny\n\nResult of get_weather: 24 C, cloudy"
    )
    prompt = DIALOGUE.prompt(history)
    assert prompt.endswith("Result of get_weather: 24 C, cloudy\nAssistant:")
    assert call_text(ToolCall("c", "f", "not json")) == '{"name": "f", "arguments": "not json"}'


async def test_required_call_is_valid_json_matching_the_schema(provider: LocalProvider) -> None:
    deltas = await call(
        provider, "What is the weather like in Paris today?", ToolUse((WEATHER, TIME), "required")
    )
    name, arguments = arguments_of(deltas)
    final = deltas[-1]
    assert final.finish_reason == "tool_calls" and final.usage is not None
    assert not "".join(delta.text for delta in deltas)
    assert name == "get_weather"
    parsed = json.loads(arguments)
    jsonschema_rs.validate(WEATHER.parameters, parsed)
    assert "Paris" in parsed["city"]
    assert len(deltas) > 3  # the arguments streamed in pieces


async def test_named_function_is_the_one_called(provider: LocalProvider) -> None:
    deltas = await call(
        provider, "What is the weather in Rome?", ToolUse((WEATHER, PING), "function", "ping")
    )
    assert arguments_of(deltas) == ("ping", "{}")
    assert deltas[-1].finish_reason == "tool_calls"


async def test_nested_schema_with_refs_arrays_and_bounds(provider: LocalProvider) -> None:
    deltas = await call(
        provider,
        "Order two apples and one pear, express delivery please.",
        ToolUse((ORDER,), "required"),
        max_tokens=120,
    )
    name, arguments = arguments_of(deltas)
    assert name == "place_order" and deltas[-1].finish_reason == "tool_calls"
    schema: dict[str, Any] = dict(ORDER.parameters or {})
    jsonschema_rs.validate(schema, json.loads(arguments))


async def test_auto_and_none_answer_in_text(provider: LocalProvider) -> None:
    for choice in ("auto", "none"):
        deltas = await call(provider, "What is the capital of France?", ToolUse((WEATHER,), choice))  # type: ignore[arg-type]
        assert not any(delta.tool_calls for delta in deltas)
        assert "Paris" in "".join(delta.text for delta in deltas)
        assert deltas[-1].finish_reason in ("stop", "length")


async def test_a_call_cut_by_max_tokens_finishes_with_length(provider: LocalProvider) -> None:
    deltas = await call(provider, "Weather in Paris?", ToolUse((WEATHER,), "required"), 16)
    name, arguments = arguments_of(deltas)
    assert name == "get_weather" and deltas[-1].finish_reason == "length"
    assert arguments.startswith("{")


async def test_unenforceable_parameters_are_a_400(provider: LocalProvider) -> None:
    remote = ToolSpec("f", "", {"type": "object", "properties": {"a": {"$ref": "https://x/y"}}})
    with pytest.raises(InvalidRequestError) as refused:
        await call(provider, "Hi", ToolUse((remote,), "required"))
    assert refused.value.param == "tools"
