"""What Open WebUI (and front ends like it) sends, answered instead of refused (issue #15,
section 5): content parts, more than 4 stop strings, a reply asked longer than the context, a
history longer than it, requests that set no reply length, the API's conversations kept apart
from the page's chats, API keys that store nothing by default, and every model name listed.

The real app in-process with the real model, driven by the official ``openai`` client; a small
server of this module's own (a 256-token context, ``drop_oldest``, parts dropped with a note, a
reply cap of 8 tokens) for what its settings change."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from causerie.storage import ConversationStore, Database
from tests.helpers import long_reply_messages
from tests.inprocess import InProcess, sqlite_app_with

pytestmark = pytest.mark.anyio

MODEL = "gemma-3-270m-q4_k_m"
PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8"
    "z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
WITH_IMAGE: list[Any] = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image_url", "image_url": {"url": PIXEL}},
        ],
    }
]
CAP = 8  # the small server's CAUSERIE_API_DEFAULT_MAX_TOKENS
WINDOW = 256


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[InProcess]:
    yield from sqlite_app_with(
        tmp_path_factory.mktemp("owui-small"),
        model_dir,
        context_size=WINDOW,
        context_overflow="drop_oldest",
        drop_unsupported_parts=True,
        api_default_max_tokens=CAP,
    )


async def post(app: InProcess, path: str, body: dict[str, Any]) -> httpx.Response:
    async with app.http(timeout=120) as http:
        return await http.post(path, json=body)


# -- content parts -------------------------------------------------------------------------------


async def test_an_image_for_a_text_only_model_is_a_400_naming_the_model_and_the_part(
    sqlite_app: InProcess,
) -> None:
    async with sqlite_app.openai() as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(model="default", messages=WITH_IMAGE)
    error = caught.value
    assert f"The model {MODEL} reads text only: messages[0] has an image_url part." in str(
        error.message
    )
    assert error.param == "messages[0].content[1]"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("part", "param", "words"),
    [
        ({"type": "image_url", "image_url": {}}, "messages.0.content.1.image_url.url", "required"),
        (
            {"type": "input_audio", "input_audio": {"data": "AAAA"}},
            "messages.0.content.1.input_audio.format",
            "required",
        ),
        ({"type": "file"}, "messages.0.content.1.file", "required"),
        ({"type": "text"}, "messages.0.content.1.text", "required"),
        ({"type": "video_url", "video_url": {}}, "messages.0.content", "'video_url' is not one of"),
    ],
)
async def test_a_bad_part_names_the_field_the_client_sent(
    sqlite_app: InProcess, part: dict[str, Any], param: str, words: str
) -> None:
    content = [{"type": "text", "text": "Look:"}, part]
    body = {"model": "default", "messages": [{"role": "user", "content": content}]}
    response = await post(sqlite_app, "/v1/chat/completions", body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param  # never pydantic's `.str` or `.list[...]`
    assert words in error["message"] and ".str" not in error["message"]


async def test_a_dropped_part_leaves_a_note_where_it_was(small: InProcess) -> None:
    """With CAUSERIE_DROP_UNSUPPORTED_PARTS the model reads the note in the part's place: the
    prompt is, token for token, the one where the client had written the note itself."""
    written = "What is in this picture? [image omitted: this model reads text only]"
    async with small.openai() as client:
        dropped = await client.chat.completions.create(
            model="default", messages=WITH_IMAGE, max_tokens=1
        )
        noted = await client.chat.completions.create(
            model="default", messages=[{"role": "user", "content": written}], max_tokens=1
        )
        plain = await client.chat.completions.create(
            model="default",
            messages=[{"role": "user", "content": "What is in this picture?"}],
            max_tokens=1,
        )
    assert dropped.usage and noted.usage and plain.usage
    assert dropped.usage.prompt_tokens == noted.usage.prompt_tokens > plain.usage.prompt_tokens


# -- stop strings, reply lengths and the context -------------------------------------------------


async def test_more_than_four_stop_strings_are_taken_up_to_64(sqlite_app: InProcess) -> None:
    stops = [f"<stop{i}>" for i in range(10)] + ["3"]
    async with sqlite_app.openai() as client:
        reply = await client.chat.completions.create(
            model="default",
            messages=[{"role": "user", "content": "Count from 1 to 10: 1, 2,"}],
            stop=stops,
            max_tokens=20,
            temperature=0,
        )
        assert "3" not in (reply.choices[0].message.content or "")
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(
                model="default",
                messages=[{"role": "user", "content": "Hi"}],
                stop=[str(i) for i in range(65)],
            )
    assert caught.value.param == "stop"  # type: ignore[attr-defined]
    assert "at most 64 items" in caught.value.message


async def test_max_tokens_beyond_the_context_is_cut_to_what_fits(
    sqlite_app: InProcess, small: InProcess
) -> None:
    """No 400 for a reply asked longer than the context: it gets what fits, and a reply that
    fills it ends with finish_reason `length` (a raw count, which the base model goes on
    with, fills the small server's 256 tokens)."""
    async with sqlite_app.openai() as client:
        reply = await client.chat.completions.create(
            model="default", messages=[{"role": "user", "content": "Hi"}], max_tokens=5000
        )
    assert reply.usage and reply.usage.completion_tokens < 4096
    count = ", ".join(str(i) for i in range(1, 11)) + ","
    body = {"model": "default", "prompt": count, "max_tokens": 100_000, "temperature": 0}
    answer = await post(small, "/v1/completions", {**body, "repeat_penalty": 1.0})
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["finish_reason"] == "length"
    usage = answer.json()["usage"]
    assert usage["prompt_tokens"] + usage["completion_tokens"] == WINDOW


async def test_a_history_longer_than_the_context_loses_its_oldest_turns(small: InProcess) -> None:
    """CAUSERIE_CONTEXT_OVERFLOW=drop_oldest: the system message and the last question stay;
    the oldest turns go until the prompt and a reply fit."""
    history: list[Any] = [{"role": "system", "content": "You are terse."}]
    for i in range(12):
        history += [
            {"role": "user", "content": f"Tell me about the number {i} in a few sentences."},
            {"role": "assistant", "content": f"The number {i} is a number. " * 6},
        ]
    history.append({"role": "user", "content": "What is the capital of France?"})
    async with small.openai() as client:
        reply = await client.chat.completions.create(
            model="default", messages=history, max_tokens=4, temperature=0
        )
    assert reply.usage and reply.usage.prompt_tokens + 4 <= WINDOW
    assert reply.usage.prompt_tokens > WINDOW // 4  # the newest turns were kept, not just one


async def test_a_history_longer_than_the_context_is_still_a_400_by_default(
    sqlite_app: InProcess,
) -> None:
    words = "word " * 6000
    async with sqlite_app.openai() as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(
                model="default", messages=[{"role": "user", "content": words}]
            )
    assert caught.value.code == "context_length_exceeded"


async def test_api_requests_without_a_reply_length_stop_at_the_default_cap(
    small: InProcess,
) -> None:
    """CAUSERIE_API_DEFAULT_MAX_TOKENS, on every API dialect: chat completions, the legacy
    completions (a null max_tokens), the Responses API and Ollama's chat."""
    messages = long_reply_messages()
    counting = {"temperature": 0, "repeat_penalty": 1.0}
    async with small.openai() as client:
        chat = await client.chat.completions.create(
            model="default", messages=messages, temperature=0, extra_body={"repeat_penalty": 1.0}
        )
        assert chat.choices[0].finish_reason == "length"
        assert chat.usage and chat.usage.completion_tokens == CAP
        response = await client.responses.create(
            model="default",
            input=messages,
            temperature=0,  # type: ignore[arg-type]
        )
        assert response.status == "incomplete" and response.usage
        assert response.usage.output_tokens == CAP
    legacy = await post(
        small,
        "/v1/completions",
        {"model": "default", "prompt": "1, 2, 3, 4, 5,", "max_tokens": None, **counting},
    )
    assert legacy.status_code == 200, legacy.text
    assert legacy.json()["choices"][0]["finish_reason"] == "length"
    assert legacy.json()["usage"]["completion_tokens"] == CAP
    ollama = await post(
        small,
        "/api/chat",
        {"model": "default", "messages": messages, "stream": False, "options": counting},
    )
    assert ollama.status_code == 200, ollama.text
    assert ollama.json()["done_reason"] == "length" and ollama.json()["eval_count"] == CAP


# -- models ----------------------------------------------------------------------------------------


async def test_every_listed_name_is_one_a_chat_request_accepts(sqlite_app: InProcess) -> None:
    async with sqlite_app.openai() as client:
        listed = [model.id for model in (await client.models.list()).data]
        assert "default" in listed and MODEL in listed
        for name in listed:
            reply = await client.chat.completions.create(
                model=name, messages=[{"role": "user", "content": "Hi"}], max_tokens=1
            )
            assert reply.model == MODEL


# -- storage: the API's conversations apart, keys that store nothing by default -------------------


async def test_api_conversations_are_listed_apart_from_the_pages_chats(
    sqlite_app: InProcess,
) -> None:
    body = {
        "model": "default",
        "messages": [{"role": "user", "content": "A question from an API client"}],
        "max_tokens": 1,
    }
    answer = await post(sqlite_app, "/v1/chat/completions", body)
    conversation = answer.headers["x-causerie-conversation-id"]
    assert conversation
    async with sqlite_app.http() as http:
        sidebar = (await http.get("/")).text
        listed = (await http.get("/api-conversations")).text
    assert conversation not in sidebar  # the page's chats only
    assert 'data-testid="api-conversations-link"' in sidebar
    assert f'href="/c/{conversation}"' in listed and "A question from an API client" in listed


def conversations_of(app: InProcess, owner: str) -> int:
    database = Database(app.database_url)
    try:
        return len(ConversationStore(database, owner).list_recent(limit=1000))
    finally:
        database.dispose()


async def test_a_key_made_not_to_store_stores_only_what_asks_to_be(small: InProcess) -> None:
    accounts = small.services.accounts
    if not accounts.users.credentials("root"):
        accounts.create_user("cli", "root", "root-password", role="admin")
    user = accounts.create_user("cli", "frontend", "a long password")
    _, quiet = accounts.create_key("cli", user, "open-webui", store=False)
    _, keeping = accounts.create_key("cli", user, "scripts")
    question = [{"role": "user", "content": "Suggest three tags for this chat."}]
    async with small.openai(quiet) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="default", messages=question, max_tokens=1
        )
        assert raw.headers["x-causerie-conversation-id"] == ""
        assert conversations_of(small, user.id) == 0
        asked = await client.chat.completions.with_raw_response.create(
            model="default", messages=question, max_tokens=1, extra_body={"store": True}
        )
        assert asked.headers["x-causerie-conversation-id"]
        assert conversations_of(small, user.id) == 1
    async with small.openai(keeping) as client:  # a key made as before stores by default
        await client.chat.completions.create(
            model="default", messages=[{"role": "user", "content": "Another"}], max_tokens=1
        )
    assert conversations_of(small, user.id) == 2
    listed = {info.name: info.store for info in accounts.credentials.keys(user.id)}
    assert listed == {"open-webui": False, "scripts": True}
