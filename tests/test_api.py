"""The OpenAI-compatible API, driven by the official `openai` client against a real server
with the real bundled model, on SQLite and on Postgres."""

from __future__ import annotations

import pytest

from tests.conftest import Server
from tests.helpers import client_for

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def test_health_ready_and_models(server: Server) -> None:
    client = client_for(server)
    models = client.models.list()
    ids = [model.id for model in models.data]
    assert ids == ["gemma-3-270m-q4_k_m"]
    assert client.models.retrieve(ids[0]).id == ids[0]
    assert client.models.retrieve("default").id == "default"  # every name a request accepts
    import httpx

    assert httpx.get(f"{server.url}/health").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/ready")
    assert ready.status_code == 200 and ready.json()["database"] is True


def test_non_streaming_answer(server: Server) -> None:
    response = client_for(server).chat.completions.create(
        model="default", messages=QUESTION, max_tokens=24, temperature=0
    )
    choice = response.choices[0]
    assert choice.message.role == "assistant"
    assert "Paris" in (choice.message.content or "")
    assert choice.finish_reason == "stop"
    assert response.model == "gemma-3-270m-q4_k_m"
    assert response.id.startswith("chatcmpl-")
    usage = response.usage
    assert usage is not None and usage.prompt_tokens > 10
    assert 0 < usage.completion_tokens <= 24
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_streaming_matches_non_streaming_and_counts_usage(server: Server) -> None:
    client = client_for(server)
    kwargs = {"model": "default", "messages": QUESTION, "max_tokens": 12, "temperature": 0}
    whole = client.chat.completions.create(**kwargs)  # type: ignore[call-overload]
    chunks = list(
        client.chat.completions.create(
            **kwargs, stream=True, stream_options={"include_usage": True}
        )
    )
    first, *rest = chunks
    assert first.choices[0].delta.role == "assistant"
    content_chunks = [c for c in rest if c.choices and c.choices[0].delta.content]
    text = "".join(c.choices[0].delta.content or "" for c in content_chunks)
    assert text == whole.choices[0].message.content
    finishes = [
        c.choices[0].finish_reason for c in rest if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == [whole.choices[0].finish_reason]
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == [] and usage_chunk.usage is not None
    assert usage_chunk.usage.completion_tokens == whole.usage.completion_tokens  # type: ignore[union-attr]
    assert usage_chunk.usage.prompt_tokens == whole.usage.prompt_tokens  # type: ignore[union-attr]
    # each content chunk carries at least one generated token
    assert len(content_chunks) <= usage_chunk.usage.completion_tokens
    assert all(c.id == first.id for c in chunks)


def test_stream_without_usage_has_none(server: Server) -> None:
    chunks = list(
        client_for(server).chat.completions.create(
            model="default", messages=QUESTION, max_tokens=4, stream=True
        )
    )
    assert all(chunk.usage is None for chunk in chunks)
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_max_tokens_gives_length(server: Server) -> None:
    client = client_for(server)
    for field in ("max_tokens", "max_completion_tokens"):
        response = client.chat.completions.create(  # type: ignore[call-overload]
            model="default",
            messages=[{"role": "user", "content": "Tell me about the history of France."}],
            temperature=0,
            **{field: 3},
        )
        assert response.choices[0].finish_reason == "length"
        assert response.usage.completion_tokens == 3


def test_stop_string_cuts_the_reply(server: Server) -> None:
    client = client_for(server)
    base = client.chat.completions.create(
        model="default", messages=QUESTION, max_tokens=24, temperature=0
    )
    text = base.choices[0].message.content or ""
    assert "Paris" in text
    for stop in ("Paris", ["nothing-like-this", "Paris"]):
        cut = client.chat.completions.create(
            model="default", messages=QUESTION, max_tokens=24, temperature=0, stop=stop
        )
        assert cut.choices[0].message.content == text.split("Paris")[0].rstrip()
        assert cut.choices[0].finish_reason == "stop"


def test_same_seed_same_text(server: Server) -> None:
    client = client_for(server)
    messages = [{"role": "user", "content": "Tell me a short story about a cat."}]

    def sample(seed: int) -> str:
        response = client.chat.completions.create(
            model="default", messages=messages, max_tokens=24, temperature=1.0, seed=seed
        )
        return response.choices[0].message.content or ""

    first = sample(1234)
    assert first
    assert sample(1234) == first
    others = {sample(seed) for seed in (1, 2, 3)}
    assert len(others | {first}) > 1, "different seeds should not all give the same text"


def test_content_as_text_parts_and_system_message(server: Server) -> None:
    response = client_for(server).chat.completions.create(
        model="default",
        messages=[
            {"role": "system", "content": "You answer geography questions."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is the capital "},
                    {"type": "text", "text": "of France?"},
                ],
            },
        ],
        max_tokens=24,
        temperature=0,
        presence_penalty=0.5,
        frequency_penalty=0.5,
        top_p=0.9,
        user="someone",
        n=1,
    )
    assert "Paris" in (response.choices[0].message.content or "")


@pytest.mark.parametrize("sampling", [{"temperature": 0}, {"temperature": 0.7, "seed": 5}])
def test_usage_counts_prompt_tokens_consistently(
    server: Server, sampling: dict[str, float]
) -> None:
    client = client_for(server)
    short = client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": "Hi"}], max_tokens=1, **sampling
    )
    longer = client.chat.completions.create(
        model="default",
        messages=[{"role": "user", "content": "Hi there, how are you doing today my friend?"}],
        max_tokens=1,
        **sampling,
    )
    assert longer.usage.prompt_tokens > short.usage.prompt_tokens  # type: ignore[union-attr]
