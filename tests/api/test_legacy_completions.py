"""The legacy ``POST /v1/completions``, driven by the official `openai` client against the real
app in-process (SQLite): the prompt continued as written (no chat template), a list of prompts,
stop strings, ``max_tokens``, ``echo``, streaming, the usage counted, nothing stored, and the
400s for what is not supported."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import openai
import pytest

from causerie.storage.usage import UsageLedger
from causerie.types import LOCAL_OWNER
from tests.helpers import store_for
from tests.inprocess import InProcess

pytestmark = pytest.mark.anyio

MODEL = "default"
CAPITAL = "The capital of France is"
COUNT = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10,"


async def complete(app: InProcess, **kwargs: Any) -> Any:
    async with app.openai() as client:
        return await client.completions.create(model=MODEL, temperature=0, **kwargs)


def tokens(usage: Any) -> tuple[int, int, int]:
    """Usage but the cached tokens (a prompt asked again is read from the engine's cache)."""
    return usage.prompt_tokens, usage.completion_tokens, usage.total_tokens


async def test_the_prompt_is_continued_as_written_and_greedy_is_deterministic(
    sqlite_app: InProcess,
) -> None:
    first = await complete(sqlite_app, prompt=CAPITAL, max_tokens=12)
    again = await complete(sqlite_app, prompt=CAPITAL, max_tokens=12)
    assert first.object == "text_completion" and first.id.startswith("cmpl-")
    assert first.model == sqlite_app.services.registry.default_model
    (choice,) = first.choices
    assert choice.index == 0 and choice.logprobs is None and choice.text.strip()
    assert again.choices[0].text == choice.text
    # No chat template: the prompt's tokens are the text's own, after the BOS.
    model = sqlite_app.services.local.model
    assert first.usage.prompt_tokens == len(model.tokenize(CAPITAL, add_bos=model.adds_bos))
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens


async def test_a_list_of_prompts_gets_one_choice_each_in_order(sqlite_app: InProcess) -> None:
    prompts = [COUNT, CAPITAL]
    both = await complete(sqlite_app, prompt=prompts, max_tokens=8)
    alone = [await complete(sqlite_app, prompt=prompt, max_tokens=8) for prompt in prompts]
    assert [c.index for c in both.choices] == [0, 1]
    assert [c.text for c in both.choices] == [a.choices[0].text for a in alone]
    assert both.usage.completion_tokens == sum(a.usage.completion_tokens for a in alone)
    assert both.usage.prompt_tokens == sum(a.usage.prompt_tokens for a in alone)
    empty = await complete(sqlite_app, prompt=["", CAPITAL], max_tokens=2)  # "": from the BOS
    assert [c.index for c in empty.choices] == [0, 1] and empty.usage.completion_tokens == 4


async def test_stop_and_max_tokens(sqlite_app: InProcess) -> None:
    cut = await complete(sqlite_app, prompt=COUNT, max_tokens=7)
    assert cut.choices[0].finish_reason == "length"
    assert cut.usage.completion_tokens == 7
    whole = cut.choices[0].text
    stop = next(word for word in whole.split() if len(word) >= 2 and whole.index(word) > 0)
    stopped = await complete(sqlite_app, prompt=COUNT, max_tokens=7, stop=[stop, "never"])
    assert stopped.choices[0].text == whole[: whole.index(stop)]
    assert stopped.choices[0].finish_reason == "stop"


async def test_echo_puts_the_prompt_first(sqlite_app: InProcess) -> None:
    plain = await complete(sqlite_app, prompt=CAPITAL, max_tokens=6)
    echoed = await complete(sqlite_app, prompt=CAPITAL, max_tokens=6, echo=True)
    # The blank between the prompt and its completion is the completion's, as with OpenAI.
    assert plain.choices[0].text.startswith(" ")
    assert echoed.choices[0].text == CAPITAL + plain.choices[0].text
    assert tokens(echoed.usage) == tokens(plain.usage)


async def test_stream_says_what_the_json_says(sqlite_app: InProcess) -> None:
    prompts = [CAPITAL, COUNT]
    whole = await complete(sqlite_app, prompt=prompts, max_tokens=10, echo=True)
    async with sqlite_app.openai() as client:
        stream = await client.completions.create(
            model=MODEL,
            prompt=prompts,
            max_tokens=10,
            echo=True,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    assert all(c.object == "text_completion" and c.id == chunks[0].id for c in chunks)
    *pieces, last = chunks
    texts, finishes = ["", ""], [None, None]
    for chunk in pieces:
        (choice,) = chunk.choices
        assert choice.logprobs is None and chunk.usage is None
        texts[choice.index] += choice.text
        if choice.finish_reason is not None:
            finishes[choice.index] = choice.finish_reason
    assert texts == [c.text for c in whole.choices]
    assert finishes == [c.finish_reason for c in whole.choices]
    assert last.choices == [] and tokens(last.usage) == tokens(whole.usage)


async def test_usage_is_counted_and_nothing_is_stored(sqlite_app: InProcess) -> None:
    database, store = store_for(sqlite_app)
    ledger = UsageLedger(database)
    model = sqlite_app.services.registry.default_model

    def counted() -> tuple[int, int, int]:
        today = datetime.now(UTC).date()
        lines = [
            line
            for line in ledger.lines(since=today, user_id=LOCAL_OWNER)
            if line.model == model and line.day == today
        ]
        return (
            sum(line.requests for line in lines),
            sum(line.prompt_tokens for line in lines),
            sum(line.completion_tokens for line in lines),
        )

    try:
        before, messages = counted(), store.count_messages()
        async with sqlite_app.openai() as client:
            raw = await client.completions.with_raw_response.create(
                model=MODEL, prompt=[CAPITAL, COUNT], max_tokens=5, temperature=0
            )
        result = raw.parse()
        after = counted()
        assert (after[0] - before[0], after[1] - before[1], after[2] - before[2]) == (
            2,  # a request for each prompt
            result.usage.prompt_tokens,
            result.usage.completion_tokens,
        )
        assert store.count_messages() == messages
        assert "x-causerie-conversation-id" not in raw.headers
    finally:
        database.dispose()


@pytest.mark.parametrize(
    ("fields", "param", "code"),
    [
        ({"suffix": " and so on."}, "suffix", "unsupported_parameter"),
        ({"logprobs": 2, "echo": True}, "logprobs", "unsupported_parameter"),
        ({"logprobs": 21}, "logprobs", None),
        ({"n": 9}, "n", "unsupported_parameter"),
        ({"best_of": 3}, "best_of", "unsupported_parameter"),
        ({"prompt": [1, 2, 3]}, "prompt", "unsupported_parameter"),
        ({"prompt": [[1, 2], [3]]}, "prompt", "unsupported_parameter"),
        ({"prompt": []}, "prompt", None),
        ({"prompt": "word " * 5000}, "prompt", "context_length_exceeded"),
        ({"prompt": "a" * 1_000_001}, "prompt", None),  # CAUSERIE_MAX_INPUT_CHARS
        ({"stop": ["a"] * 65}, "stop", None),  # as for a chat
    ],
)
async def test_what_is_not_supported_is_a_400_envelope(
    sqlite_app: InProcess, fields: dict[str, Any], param: str, code: str | None
) -> None:
    body = {"model": MODEL, "prompt": CAPITAL, **fields}
    async with sqlite_app.http() as http:
        response = await http.post("/v1/completions", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"]
    assert (error["param"], error["code"]) == (param, code)


async def test_the_client_sees_a_bad_request(sqlite_app: InProcess) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        await complete(sqlite_app, prompt=CAPITAL, logprobs=1, echo=True)
    assert refused.value.code == "unsupported_parameter" and refused.value.param == "logprobs"
    with pytest.raises(openai.NotFoundError):
        async with sqlite_app.openai() as client:
            await client.completions.create(model="no-such-model", prompt=CAPITAL)


async def test_it_is_in_the_openapi_document(sqlite_app: InProcess) -> None:
    async with sqlite_app.http() as http:
        document = (await http.get("/openapi.json")).json()
    operation = document["paths"]["/v1/completions"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert {"prompt", "max_tokens", "echo", "stream"} <= set(schema["properties"])
    assert "200" in operation["responses"] and "400" in operation["responses"]
