"""Bad input gets OpenAI's error envelope with the right status, never a 500 (the app
in-process; a body sent in chunks goes over a real socket)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import Server
from tests.inprocess import InProcess

pytestmark = pytest.mark.anyio

URL = "/v1/chat/completions"
GOOD = {"model": "default", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
GOOD_TEXT = '{"model": "default", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}'


async def post(app: InProcess, content: bytes | str, **headers: str) -> httpx.Response:
    async with app.http(timeout=60) as http:
        return await http.post(
            URL, content=content, headers={"content-type": "application/json", **headers}
        )


async def complete(app: InProcess, **request: Any) -> Any:
    """One chat completion through the official client."""
    async with app.openai() as client:
        return await client.chat.completions.create(**request)


def envelope(response: httpx.Response) -> dict[str, object]:
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    return error  # type: ignore[no-any-return]


async def test_invalid_json(app: InProcess) -> None:
    response = await post(app, b'{"model": "default", "messages": [')
    assert response.status_code == 400
    error = envelope(response)
    assert error["type"] == "invalid_request_error"
    assert "not valid JSON" in str(error["message"])


async def test_invalid_utf8(app: InProcess) -> None:
    response = await post(
        app, b'{"model": "default", "messages": [{"role": "user", "content": "\xff\xfe"}]}'
    )
    assert response.status_code == 400
    assert "UTF-8" in str(envelope(response)["message"])


async def test_a_lone_surrogate_is_a_400_and_a_pair_is_a_character(app: InProcess) -> None:
    lone = await post(app, GOOD_TEXT.replace("Hi", "x\\ud800y"))
    assert lone.status_code == 400
    assert "surrogate" in str(envelope(lone)["message"])
    paired = await post(app, GOOD_TEXT.replace("Hi", "\\ud83d\\ude00"))  # an emoji, escaped
    assert paired.status_code == 200, paired.text


async def test_json_nested_thousands_of_levels_deep_is_a_400(app: InProcess) -> None:
    deep = '{"model": "default", "messages": ' + "[" * 3000 + "]" * 3000 + "}"
    response = await post(app, deep)
    assert response.status_code == 400
    assert "nested too deeply" in str(envelope(response)["message"])


async def test_body_must_be_an_object(app: InProcess) -> None:
    response = await post(app, b"[1, 2]")
    assert response.status_code == 400
    envelope(response)


@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"messages": "hello"}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages.0.role"),
        ({"max_tokens": "many"}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"temperature": 5}, "temperature"),
        ({"stop": ["a"] * 65}, "stop"),
        ({"stop": 5}, "stop"),
        ({"n": 9}, "n"),
        ({"n": 0}, "n"),
        ({"top_logprobs": 21, "logprobs": True}, "top_logprobs"),
        ({"top_logprobs": 2}, "top_logprobs"),  # without logprobs
        ({"model": 42}, "model"),
        ({"stream": "yes"}, "stream"),
        ({"max_tokens": "5"}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"temperature": "0.5"}, "temperature"),
        ({"repeat_penalty": float("inf")}, "repeat_penalty"),
        ({"top_p": float("nan")}, "top_p"),
        ({"stream_options": {"include_usage": "true"}}, "stream_options.include_usage"),
    ],
)
async def test_wrong_values_name_the_parameter(
    app: InProcess, patch: dict[str, object], param: str
) -> None:
    import json

    response = await post(app, json.dumps({**GOOD, **patch}))
    assert response.status_code == 400, response.text
    error = envelope(response)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param  # as the client sent it: no pydantic union member


async def test_missing_model_field(app: InProcess) -> None:
    response = await post(app, b'{"messages": [{"role": "user", "content": "Hi"}]}')
    assert response.status_code == 400
    assert envelope(response)["param"] == "model"


async def test_unknown_model_is_404_with_the_official_client(app: InProcess) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await complete(app, model="gpt-imaginary", messages=[{"role": "user", "content": "Hi"}])
    assert caught.value.status_code == 404
    assert caught.value.code == "model_not_found"


async def test_prompt_longer_than_context(app: InProcess) -> None:
    words = "word " * 6000  # the server's context is 4096 tokens
    with pytest.raises(openai.BadRequestError) as caught:
        await complete(app, model="default", messages=[{"role": "user", "content": words}])
    assert caught.value.code == "context_length_exceeded"
    assert caught.value.param == "messages"  # type: ignore[attr-defined]


async def test_body_over_the_size_limit_is_413(app: InProcess) -> None:
    import json

    huge = json.dumps({**GOOD, "messages": [{"role": "user", "content": "x" * (5 * 1024 * 1024)}]})
    response = await post(app, huge)
    assert response.status_code == 413
    assert envelope(response)["code"] == "request_too_large"


async def test_unsupported_features_are_clear(app: InProcess) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await complete(
            app,
            model="default",
            messages=[{"role": "user", "content": "Hi"}],
            n=9,
        )
    assert caught.value.code == "unsupported_parameter"
    assert "at most 8" in caught.value.message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("logit_bias", {"1234": -100}),
        ("audio", {"voice": "alloy", "format": "wav"}),
        ("modalities", ["text", "audio"]),
        ("web_search_options", {"search_context_size": "low"}),
        ("functions", [{"name": "f", "parameters": {"type": "object"}}]),
        ("function_call", "auto"),
        ("n", 9),
    ],
)
async def test_a_field_causerie_cannot_honour_is_refused_by_name(
    sqlite_app: InProcess, field: str, value: object
) -> None:
    """Never a reply that silently differs from what was asked: each such field is a 400
    naming it (docs/api.md lists the ones that are ignored instead, with why)."""
    async with sqlite_app.http() as http:
        answer = await http.post(
            "/v1/chat/completions",
            json={
                "model": "default",
                "messages": [{"role": "user", "content": "Hi"}],
                "max_tokens": 1,
                field: value,
            },
        )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "unsupported_parameter"
    assert answer.json()["error"]["param"] == field
    async with sqlite_app.http() as http:  # text only, and empty values, ask for nothing
        fine = await http.post(
            "/v1/chat/completions",
            json={
                "model": "default",
                "messages": [{"role": "user", "content": "Hi"}],
                "max_tokens": 1,
                "modalities": ["text"],
                "logit_bias": {},
                "prediction": {"type": "content", "content": "Hello"},
                "reasoning_effort": "low",
                "service_tier": "auto",
                "metadata": {"k": "v"},
            },
        )
    assert fine.status_code == 200, fine.text


async def test_unknown_route_is_an_envelope(app: InProcess) -> None:
    async with app.http() as http:
        response = await http.get("/v1/nothing-here")
    assert response.status_code == 404
    envelope(response)


async def test_server_still_answers_after_bad_requests(app: InProcess) -> None:
    async with app.openai() as client:
        response = await client.chat.completions.create(**GOOD)  # type: ignore[arg-type]
    assert response.choices[0].finish_reason in ("stop", "length")


def test_body_over_the_limit_without_content_length_is_413(sqlite_server: Server) -> None:
    def chunks() -> Iterator[bytes]:  # chunked transfer: the size is only known while reading
        yield b'{"model": "default", "messages": [{"role": "user", "content": "'
        for _ in range(6):
            yield b"x" * (1024 * 1024)
        yield b'"}]}'

    response = httpx.post(
        f"{sqlite_server.url}{URL}", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    envelope(response)
