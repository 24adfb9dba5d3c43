"""The OpenAI-compatible API, driven by the official `openai` client against the real app with
the real bundled model, in-process (``tests/inprocess.py``), on SQLite and on Postgres."""

from __future__ import annotations

import pytest

from tests.inprocess import InProcess

pytestmark = pytest.mark.anyio

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


async def test_health_ready_and_models(app: InProcess) -> None:
    async with app.openai() as client:
        models = await client.models.list()
        ids = [model.id for model in models.data]
        assert ids == ["gemma-3-270m-q4_k_m", "default"]  # every name a request accepts
        assert (await client.models.retrieve(ids[0])).id == ids[0]
        assert (await client.models.retrieve("default")).id == "default"
    async with app.http() as http:
        assert (await http.get("/health")).json() == {"status": "ok"}
        ready = await http.get("/ready")
    assert ready.status_code == 200 and ready.json()["database"] is True


async def test_non_streaming_answer(app: InProcess) -> None:
    async with app.openai() as client:
        response = await client.chat.completions.create(
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


async def test_streaming_matches_non_streaming_and_counts_usage(app: InProcess) -> None:
    # A seed: both requests evaluate the prompt the same way (no reuse of the cached prompt,
    # whose logits can differ in the last bits), so the two texts must be equal.
    kwargs = {
        "model": "default",
        "messages": QUESTION,
        "max_tokens": 12,
        "temperature": 0,
        "seed": 3,
    }
    async with app.openai() as client:
        whole = await client.chat.completions.create(**kwargs)  # type: ignore[call-overload]
        stream = await client.chat.completions.create(  # type: ignore[call-overload]
            **kwargs, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
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
    assert usage_chunk.usage.completion_tokens == whole.usage.completion_tokens
    assert usage_chunk.usage.prompt_tokens == whole.usage.prompt_tokens
    # each content chunk carries at least one generated token
    assert len(content_chunks) <= usage_chunk.usage.completion_tokens
    assert all(c.id == first.id for c in chunks)


async def test_stream_without_usage_has_none(app: InProcess) -> None:
    async with app.openai() as client:
        stream = await client.chat.completions.create(
            model="default", messages=QUESTION, max_tokens=4, stream=True
        )
        chunks = [chunk async for chunk in stream]
    assert all(chunk.usage is None for chunk in chunks)
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


async def test_max_tokens_gives_length(app: InProcess) -> None:
    async with app.openai() as client:
        for field in ("max_tokens", "max_completion_tokens"):
            response = await client.chat.completions.create(  # type: ignore[call-overload]
                model="default",
                messages=[{"role": "user", "content": "Tell me about the history of France."}],
                temperature=0,
                **{field: 3},
            )
            assert response.choices[0].finish_reason == "length"
            assert response.usage.completion_tokens == 3


async def test_stop_string_cuts_the_reply(app: InProcess) -> None:
    async with app.openai() as client:
        base = await client.chat.completions.create(
            model="default", messages=QUESTION, max_tokens=24, temperature=0, seed=3
        )
        text = base.choices[0].message.content or ""
        assert "Paris" in text
        for stop in ("Paris", ["nothing-like-this", "Paris"]):
            cut = await client.chat.completions.create(
                model="default", messages=QUESTION, max_tokens=24, temperature=0, stop=stop, seed=3
            )
            assert cut.choices[0].message.content == text.split("Paris")[0].rstrip()
            assert cut.choices[0].finish_reason == "stop"


async def test_same_seed_same_text(app: InProcess) -> None:
    messages = [{"role": "user", "content": "Tell me a short story about a cat."}]
    async with app.openai() as client:

        async def sample(seed: int) -> str:
            response = await client.chat.completions.create(
                model="default", messages=messages, max_tokens=24, temperature=1.0, seed=seed
            )
            return response.choices[0].message.content or ""

        first = await sample(1234)
        assert first
        assert await sample(1234) == first
        others = {await sample(seed) for seed in (1, 2, 3)}
    assert len(others | {first}) > 1, "different seeds should not all give the same text"


async def test_content_as_text_parts_and_system_message(app: InProcess) -> None:
    async with app.openai() as client:
        response = await client.chat.completions.create(
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
async def test_usage_counts_prompt_tokens_consistently(
    app: InProcess, sampling: dict[str, float]
) -> None:
    async with app.openai() as client:
        short = await client.chat.completions.create(  # type: ignore[call-overload]
            model="default", messages=[{"role": "user", "content": "Hi"}], max_tokens=1, **sampling
        )
        longer = await client.chat.completions.create(  # type: ignore[call-overload]
            model="default",
            messages=[{"role": "user", "content": "Hi there, how are you doing today my friend?"}],
            max_tokens=1,
            **sampling,
        )
    assert longer.usage.prompt_tokens > short.usage.prompt_tokens
