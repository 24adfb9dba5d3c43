"""The Responses API (``/v1/responses``) with the bundled model, driven by the official `openai`
SDK (``client.responses.create`` and ``client.responses.stream``) and by an OpenAI Agents SDK
agent with a function tool, against the real app in-process (SQLite, then Postgres)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
import openai
import pytest
from agents import (
    Agent,
    ModelSettings,
    OpenAIResponsesModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)

from causerie.storage import ConversationStore, Database
from causerie.storage.tables import ResponseRow
from causerie.types import LOCAL_OWNER
from tests.inprocess import InProcess

pytestmark = pytest.mark.anyio

MODEL = "default"
WEATHER: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}


def stored_branch(app: InProcess, conversation_id: str) -> list[str]:
    database = Database(app.database_url)
    try:
        return [m.role for m in ConversationStore(database, LOCAL_OWNER).branch(conversation_id)]
    finally:
        database.dispose()


def conversation_of(app: InProcess, response_id: str) -> str:
    database = Database(app.database_url)
    try:
        with database.session() as session:
            row = session.get(ResponseRow, response_id)
            assert row is not None
            return row.conversation_id
    finally:
        database.dispose()


async def test_a_response_is_stored_read_back_continued_and_deleted(app: InProcess) -> None:
    async with app.openai() as client:
        first = await client.responses.create(
            model=MODEL,
            input="What is the capital of France?",
            instructions="Answer in one short sentence.",
            max_output_tokens=24,
            temperature=0,
        )
        assert first.id.startswith("resp_") and first.status == "completed"
        assert first.output_text and first.output[0].type == "message"
        assert first.usage is not None and first.usage.output_tokens > 0

        again = await client.responses.retrieve(first.id)
        assert again.output_text == first.output_text and again.usage == first.usage

        second = await client.responses.create(
            model=MODEL,
            input=[{"role": "user", "content": "And the capital of Italy?"}],
            instructions="Answer in one short sentence.",
            previous_response_id=first.id,
            max_output_tokens=24,
            temperature=0,
        )
        assert second.previous_response_id == first.id
        assert first.usage is not None and second.usage is not None
        # the earlier turns are in the prompt, and in the same stored conversation
        assert second.usage.input_tokens > first.usage.input_tokens + first.usage.output_tokens
        conversation = conversation_of(app, second.id)
        assert conversation == conversation_of(app, first.id)
        assert stored_branch(app, conversation) == [
            "system",
            "user",
            "assistant",
            "user",
            "assistant",
        ]

        deleted = await client.responses.delete(first.id)
        assert deleted is None  # the SDK returns nothing for a 200
        with pytest.raises(openai.NotFoundError):
            await client.responses.retrieve(first.id)
        assert stored_branch(app, conversation)  # the conversation stays in the history
        with pytest.raises(openai.NotFoundError):
            await client.responses.create(
                model=MODEL, input="Hi", previous_response_id=first.id, max_output_tokens=2
            )


async def test_an_unstored_response_leaves_nothing_to_read_or_continue(app: InProcess) -> None:
    async with app.openai() as client:
        unstored = await client.responses.create(
            model=MODEL, input="Say hi.", store=False, max_output_tokens=4
        )
        assert unstored.store is False
        with pytest.raises(openai.NotFoundError):
            await client.responses.retrieve(unstored.id)
        with pytest.raises(openai.NotFoundError):
            await client.responses.create(
                model=MODEL, input="Hi", previous_response_id=unstored.id, max_output_tokens=2
            )


async def test_a_streamed_response_sends_typed_events_in_order(app: InProcess) -> None:
    async with app.openai() as client:
        kinds: list[str] = []
        deltas: list[str] = []
        async with client.responses.stream(
            model=MODEL, input="Name three colours.", max_output_tokens=16, temperature=0
        ) as stream:
            async for event in stream:
                kinds.append(event.type)
                if event.type == "response.output_text.delta":
                    deltas.append(event.delta)
            final = await stream.get_final_response()
        assert kinds[:4] == [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
        ]
        assert kinds[-4:] == [
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            final.status
            and f"response.{'completed' if final.status == 'completed' else 'incomplete'}",
        ]
        assert "".join(deltas) == final.output_text and final.output_text
        stored = await client.responses.retrieve(final.id)
        assert stored.output_text == final.output_text


async def test_a_function_call_and_its_output_continue_the_response(app: InProcess) -> None:
    async with app.openai() as client:
        called = await client.responses.create(
            model=MODEL,
            input="What is the weather in Paris?",
            tools=[WEATHER],
            tool_choice="required",
            max_output_tokens=40,
            temperature=0,
        )
        call = called.output[0]
        assert call.type == "function_call" and call.name == "get_weather"
        assert json.loads(call.arguments).keys() == {"city"}
        answered = await client.responses.create(
            model=MODEL,
            previous_response_id=called.id,
            input=[
                {"type": "function_call_output", "call_id": call.call_id, "output": "21 °C, sunny"}
            ],
            tools=[WEATHER],
            max_output_tokens=24,
            temperature=0,
        )
        assert answered.output[0].type == "message" and answered.output_text


async def test_text_format_json_schema_gives_valid_json(app: InProcess) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
        "required": ["city", "country"],
        "additionalProperties": False,
    }
    async with app.openai() as client:
        answer = await client.responses.create(
            model=MODEL,
            input="Where is the Eiffel Tower?",
            text={"format": {"type": "json_schema", "name": "place", "schema": schema}},
            max_output_tokens=60,
        )
    jsonschema_rs.validate(schema, json.loads(answer.output_text))


async def test_a_cut_reply_is_incomplete_and_bad_requests_are_400s(app: InProcess) -> None:
    async with app.openai() as client:
        cut = await client.responses.create(
            model=MODEL, input="Tell me a long story.", max_output_tokens=3
        )
        assert cut.status == "incomplete"
        assert cut.incomplete_details is not None
        assert cut.incomplete_details.reason == "max_output_tokens"
        for bad in ({"input": []}, {"input": "Hi", "background": True}, {"input": 5}):
            with pytest.raises(openai.BadRequestError):
                await client.responses.create(model=MODEL, **bad)  # type: ignore[call-overload]
        with pytest.raises(openai.NotFoundError):
            await client.responses.create(model="no-such-model", input="Hi")


async def test_an_agents_sdk_agent_calls_its_tool_and_answers(sqlite_app: InProcess) -> None:
    set_tracing_disabled(True)
    asked: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """Get the current weather in a city."""
        asked.append(city)
        return f"It is 21 °C and sunny in {city}."

    async with sqlite_app.openai() as client:
        agent = Agent(
            name="Weather",
            instructions="You answer questions about the weather with the get_weather tool.",
            tools=[get_weather],
            model=OpenAIResponsesModel(model=MODEL, openai_client=client),
            model_settings=ModelSettings(tool_choice="required", max_tokens=40, temperature=0),
        )
        result = await Runner.run(agent, "What is the weather in Paris?", max_turns=4)
    assert asked and asked[0]  # the tool ran with the model's argument
    assert isinstance(result.final_output, str) and result.final_output
