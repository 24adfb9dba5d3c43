"""``/v1/embeddings`` in-process (on SQLite: the database holds nothing of an embedding; usage is counted on both in tests/auth), driven by the official ``openai``
client: floats and base64 (the client's default), one text or many, the model listed, and
OpenAI's envelope for what is refused."""

from __future__ import annotations

import base64

import httpx
import numpy as np
import openai
import pytest

from causerie.retrieval.embed import DIMENSIONS, EMBEDDING_MODEL
from tests.inprocess import InProcess

pytestmark = pytest.mark.anyio

TEXTS = [
    "The harbour of Brest closes at noon on Sundays.",
    "Le port de Brest ferme à midi le dimanche.",
    "Tomatoes need six hours of sun a day.",
]


async def test_the_openai_client_gets_unit_vectors_that_mean_something(
    sqlite_app: InProcess,
) -> None:
    async with sqlite_app.openai() as client:
        floats = await client.embeddings.create(
            model=EMBEDDING_MODEL, input=TEXTS, encoding_format="float"
        )
        packed = await client.embeddings.create(model=EMBEDDING_MODEL, input=TEXTS)  # base64
        one = await client.embeddings.create(model=EMBEDDING_MODEL, input=TEXTS[2])
    assert floats.object == "list" and floats.model == EMBEDDING_MODEL
    assert [item.index for item in floats.data] == [0, 1, 2]
    vectors = np.array([item.embedding for item in floats.data])
    assert vectors.shape == (3, DIMENSIONS)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    # the client decodes base64 itself: the same vectors
    assert np.allclose(vectors, np.array([item.embedding for item in packed.data]), atol=1e-6)
    assert np.allclose(one.data[0].embedding, vectors[2], atol=1e-5)
    # the English sentence and its French translation are nearer than the tomatoes
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert floats.usage.prompt_tokens == floats.usage.total_tokens > 3 * 5
    assert one.usage.prompt_tokens < floats.usage.prompt_tokens


async def test_base64_on_the_wire_is_little_endian_float32(sqlite_app: InProcess) -> None:
    async with sqlite_app.http() as http:
        body = {"model": EMBEDDING_MODEL, "input": "hello", "encoding_format": "base64"}
        answer = (await http.post("/v1/embeddings", json=body)).json()
        floats = (
            await http.post("/v1/embeddings", json={**body, "encoding_format": "float"})
        ).json()
    packed = np.frombuffer(base64.b64decode(answer["data"][0]["embedding"]), dtype="<f4")
    assert np.allclose(packed, floats["data"][0]["embedding"], atol=1e-6)


async def test_the_embedding_model_is_known_but_not_listed_as_a_chat_model(
    sqlite_app: InProcess,
) -> None:
    async with sqlite_app.openai() as client:
        listed = [model.id for model in (await client.models.list()).data]
        assert EMBEDDING_MODEL not in listed  # a chat client would offer it for chatting
        assert (await client.models.retrieve(EMBEDDING_MODEL)).id == EMBEDDING_MODEL


@pytest.mark.parametrize(
    ("body", "status", "param", "words"),
    [
        ({"model": "gemma-3-270m-q4_k_m", "input": "x"}, 404, "model", "not an embedding model"),
        ({"model": "nope", "input": "x"}, 404, "model", "does not exist"),
        ({"input": "x"}, 400, "model", "model"),
        ({"model": EMBEDDING_MODEL, "input": []}, 400, "input", "empty list"),
        ({"model": EMBEDDING_MODEL, "input": ["a", ""]}, 400, "input", "empty string"),
        ({"model": EMBEDDING_MODEL, "input": [1, 2, 3]}, 400, "input", "token ids"),
        ({"model": EMBEDDING_MODEL, "input": [[1, 2]]}, 400, "input", "token ids"),
        ({"model": EMBEDDING_MODEL, "input": ["a"] * 2049}, 400, "input", "at most 2048"),
        ({"model": EMBEDDING_MODEL, "input": "a", "dimensions": 256}, 400, "dimensions", "512"),
        ({"model": EMBEDDING_MODEL, "input": "a", "encoding_format": "int8"}, 400, None, ""),
    ],
)
async def test_what_is_refused_gets_openais_envelope(
    sqlite_app: InProcess, body: dict[str, object], status: int, param: str | None, words: str
) -> None:
    async with sqlite_app.http() as http:
        answer = await http.post("/v1/embeddings", json=body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert words in error["message"]
    if param is not None:
        assert error["param"] == param


async def test_the_client_sees_a_refusal_as_its_own_exception(sqlite_app: InProcess) -> None:
    async with sqlite_app.openai() as client:
        with pytest.raises(openai.BadRequestError) as refused:
            await client.embeddings.create(model=EMBEDDING_MODEL, input="a", dimensions=64)
    assert isinstance(refused.value.response, httpx.Response)
    assert refused.value.response.json()["error"]["param"] == "dimensions"
