"""Bad input gets OpenAI's error envelope with the right status, never a 500."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.conftest import Server
from tests.helpers import client_for

URL = "/v1/chat/completions"
GOOD = {"model": "default", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
GOOD_TEXT = '{"model": "default", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}'


def post(server: Server, content: bytes | str, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}{URL}",
        content=content,
        headers={"content-type": "application/json", **headers},
        timeout=60,
    )


def envelope(response: httpx.Response) -> dict[str, object]:
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    return error  # type: ignore[no-any-return]


def test_invalid_json(server: Server) -> None:
    response = post(server, b'{"model": "default", "messages": [')
    assert response.status_code == 400
    error = envelope(response)
    assert error["type"] == "invalid_request_error"
    assert "not valid JSON" in str(error["message"])


def test_invalid_utf8(server: Server) -> None:
    response = post(
        server, b'{"model": "default", "messages": [{"role": "user", "content": "\xff\xfe"}]}'
    )
    assert response.status_code == 400
    assert "UTF-8" in str(envelope(response)["message"])


def test_a_lone_surrogate_is_a_400_and_a_pair_is_a_character(server: Server) -> None:
    lone = post(server, GOOD_TEXT.replace("Hi", "x\\ud800y"))
    assert lone.status_code == 400
    assert "surrogate" in str(envelope(lone)["message"])
    paired = post(server, GOOD_TEXT.replace("Hi", "\\ud83d\\ude00"))  # an emoji, escaped
    assert paired.status_code == 200, paired.text


def test_json_nested_thousands_of_levels_deep_is_a_400(server: Server) -> None:
    deep = '{"model": "default", "messages": ' + "[" * 3000 + "]" * 3000 + "}"
    response = post(server, deep)
    assert response.status_code == 400
    assert "nested too deeply" in str(envelope(response)["message"])


def test_body_must_be_an_object(server: Server) -> None:
    response = post(server, b"[1, 2]")
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
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"n": 2}, "n"),
        ({"model": 42}, "model"),
        ({"stream": "yes"}, "stream"),
        ({"max_tokens": "5"}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"temperature": "0.5"}, "temperature"),
        ({"repeat_penalty": float("inf")}, "repeat_penalty"),
        ({"top_p": float("nan")}, "top_p"),
        ({"stream_options": {"include_usage": "true"}}, "stream_options"),
    ],
)
def test_wrong_values_name_the_parameter(
    server: Server, patch: dict[str, object], param: str
) -> None:
    import json

    response = post(server, json.dumps({**GOOD, **patch}))
    assert response.status_code == 400, response.text
    error = envelope(response)
    assert error["type"] == "invalid_request_error"
    assert str(error["param"]).startswith(param)


def test_missing_model_field(server: Server) -> None:
    response = post(server, b'{"messages": [{"role": "user", "content": "Hi"}]}')
    assert response.status_code == 400
    assert envelope(response)["param"] == "model"


def test_unknown_model_is_404_with_the_official_client(server: Server) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client_for(server).chat.completions.create(
            model="gpt-imaginary", messages=[{"role": "user", "content": "Hi"}]
        )
    assert caught.value.status_code == 404
    assert caught.value.code == "model_not_found"


def test_prompt_longer_than_context(server: Server) -> None:
    words = "word " * 6000  # the server's context is 4096 tokens
    with pytest.raises(openai.BadRequestError) as caught:
        client_for(server).chat.completions.create(
            model="default", messages=[{"role": "user", "content": words}]
        )
    assert caught.value.code == "context_length_exceeded"
    assert caught.value.param == "messages"  # type: ignore[attr-defined]


def test_max_tokens_beyond_what_fits(server: Server) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client_for(server).chat.completions.create(
            model="default", messages=[{"role": "user", "content": "Hi"}], max_tokens=5000
        )
    assert caught.value.code == "context_length_exceeded"
    assert caught.value.param == "max_tokens"  # type: ignore[attr-defined]


def test_body_over_the_size_limit_is_413(server: Server) -> None:
    import json

    huge = json.dumps({**GOOD, "messages": [{"role": "user", "content": "x" * (5 * 1024 * 1024)}]})
    response = post(server, huge)
    assert response.status_code == 413
    assert envelope(response)["code"] == "request_too_large"


def test_body_over_the_limit_without_content_length_is_413(server: Server) -> None:
    def chunks():  # chunked transfer: the size is only known while reading
        yield b'{"model": "default", "messages": [{"role": "user", "content": "'
        for _ in range(6):
            yield b"x" * (1024 * 1024)
        yield b'"}]}'

    response = httpx.post(
        f"{server.url}{URL}", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    envelope(response)


def test_unsupported_features_are_clear(server: Server) -> None:
    client = client_for(server)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="default",
            messages=[{"role": "user", "content": "Hi"}],
            logprobs=True,
        )
    assert caught.value.code == "unsupported_parameter"


def test_unknown_route_is_an_envelope(server: Server) -> None:
    response = httpx.get(f"{server.url}/v1/nothing-here")
    assert response.status_code == 404
    envelope(response)


def test_server_still_answers_after_bad_requests(server: Server) -> None:
    response = client_for(server).chat.completions.create(**GOOD)  # type: ignore[arg-type]
    assert response.choices[0].finish_reason in ("stop", "length")
