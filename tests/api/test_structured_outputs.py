"""Structured replies (``response_format``) from the bundled model, through the official `openai`
client against the real app in-process: JSON mode, a JSON schema, the SDK's ``parse`` with a
Pydantic model, streaming, and schemas that cannot be enforced refused by name."""

from __future__ import annotations

import json
from typing import Any, Literal

import jsonschema_rs
import openai
import pytest
from pydantic import BaseModel

from tests.inprocess import InProcess

pytestmark = pytest.mark.anyio

MODEL = "default"
PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 40},
        "age": {"type": "integer"},
        "languages": {"type": "array", "items": {"enum": ["French", "English", "Breton"]}},
        "born": {"type": "string", "format": "date"},
    },
    "required": ["name", "age", "languages", "born"],
    "additionalProperties": False,
}
QUESTIONS = [
    "Describe Anne, a 34-year-old sailor from Brest who speaks French and Breton.",
    "Who is Tom? He is 8, lives in London and speaks English.",
    "Invent a person.",
]


class City(BaseModel):
    name: str
    country: str
    population: int
    coastal: bool
    kind: Literal["capital", "port", "village"]


def person_format(strict: bool = True) -> Any:
    return {
        "type": "json_schema",
        "json_schema": {"name": "person", "schema": PERSON, "strict": strict},
    }


@pytest.mark.parametrize("temperature", [0.0, 1.0])
async def test_a_json_schema_reply_is_valid_every_time(
    sqlite_app: InProcess, temperature: float
) -> None:
    async with sqlite_app.openai() as client:
        for question in QUESTIONS:
            answer = await client.chat.completions.create(
                model=MODEL,
                messages=[{"role": "user", "content": question}],
                response_format=person_format(),
                temperature=temperature,
                max_tokens=200,
            )
            choice = answer.choices[0]
            assert choice.finish_reason == "stop", choice
            reply = json.loads(choice.message.content or "")
            jsonschema_rs.validate(PERSON, reply)  # raises if it does not follow the schema


async def test_json_mode_replies_with_one_object(sqlite_app: InProcess) -> None:
    async with sqlite_app.openai() as client:
        answer = await client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "List three colours as JSON."}],
            response_format={"type": "json_object"},
            max_tokens=120,
            temperature=0,  # sampled, the object may run past the limit (then it is cut)
        )
    assert answer.choices[0].finish_reason == "stop"
    assert isinstance(json.loads(answer.choices[0].message.content or ""), dict)


async def test_the_sdks_parse_fills_a_pydantic_model(sqlite_app: InProcess) -> None:
    async with sqlite_app.openai() as client:
        answer = await client.chat.completions.parse(
            model=MODEL,
            messages=[{"role": "user", "content": "Tell me about Brest, a port in France."}],
            response_format=City,
            max_tokens=150,
        )
    city = answer.choices[0].message.parsed
    assert isinstance(city, City)
    assert city.kind in ("capital", "port", "village")


async def test_a_streamed_structured_reply_is_valid_json(sqlite_app: InProcess) -> None:
    async with sqlite_app.openai() as client:
        stream = await client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": QUESTIONS[0]}],
            response_format=person_format(),
            max_tokens=200,
            stream=True,
        )
        text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream])
    jsonschema_rs.validate(PERSON, json.loads(text))


@pytest.mark.parametrize(
    ("schema", "named"),
    [
        ({"type": "integer", "minimum": 0}, "`minimum` at $"),
        (
            {"type": "object", "properties": {"x": {"not": {"type": "null"}}}},
            "`not` at $.properties.x",
        ),
        ({"type": "object", "patternProperties": {"^a": {}}}, "`patternProperties` at $"),
        ({"type": "string", "format": "email"}, "`format: email` at $"),
        ({"$ref": "https://example.com/schema.json"}, "outside the schema"),
    ],
)
async def test_what_cannot_be_enforced_is_refused_by_name(
    sqlite_app: InProcess, schema: dict[str, Any], named: str
) -> None:
    async with sqlite_app.openai() as client:
        with pytest.raises(openai.BadRequestError) as refused:
            await client.chat.completions.create(
                model=MODEL,
                messages=[{"role": "user", "content": "Hi"}],
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": "x", "schema": schema},
                },
                max_tokens=5,
            )
    error = refused.value.body
    assert isinstance(error, dict)
    assert error["param"] == "response_format"
    assert named in error["message"]


async def test_a_malformed_response_format_is_a_400(sqlite_app: InProcess) -> None:
    async with sqlite_app.http() as http:
        for bad in (
            {"type": "yaml"},
            {"type": "json_schema"},
            {"type": "json_schema", "json_schema": {"name": "has spaces", "schema": {}}},
        ):
            answer = await http.post(
                "/v1/chat/completions",
                json={
                    "model": MODEL,
                    "messages": [{"role": "user", "content": "Hi"}],
                    "response_format": bad,
                },
            )
            assert answer.status_code == 400, (bad, answer.text)
            assert answer.json()["error"]["type"] == "invalid_request_error"


async def test_langchains_structured_output_fills_a_pydantic_model(sqlite_app: InProcess) -> None:
    """LangChain's ``ChatOpenAI(...).with_structured_output(Model)``, unchanged, against
    Causerie's API (its default method sends a ``json_schema`` response_format)."""
    from langchain_openai import ChatOpenAI

    async with sqlite_app.http(timeout=120) as http:
        chat = ChatOpenAI(
            model=MODEL,
            base_url=sqlite_app.api_url,
            api_key="unused",  # type: ignore[arg-type]
            http_async_client=http,
            max_tokens=150,
            max_retries=0,
        )
        city = await chat.with_structured_output(City).ainvoke(
            "Tell me about Brest, a port in France."
        )
    assert isinstance(city, City)


@pytest.mark.parametrize("native", [True, False])
async def test_a_pydantic_ai_agent_returns_a_pydantic_model(
    sqlite_app: InProcess, native: bool
) -> None:
    """pydantic-ai, unchanged: its native structured output (``response_format``) and its
    default one (a required tool call whose arguments are the model)."""
    from pydantic_ai import Agent, NativeOutput
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider
    from pydantic_ai.settings import ModelSettings

    async with sqlite_app.openai() as client:
        model = OpenAIChatModel(MODEL, provider=OpenAIProvider(openai_client=client))
        agent = Agent(
            model,
            output_type=NativeOutput(City) if native else City,
            model_settings=ModelSettings(max_tokens=150),
            retries=0,
        )
        result = await agent.run("Tell me about Brest, a port in France.")
    assert isinstance(result.output, City)
