"""``/v1/embeddings`` served by a provider's embedding model, through the providers file: a real
`causerie serve` whose upstreams are a second one (its local embedding model on its own
``/v1/embeddings``) behind a Relay that records what reaches it, driven by the official
``openai`` client with a user's API key (so that usage is counted)."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest

from causerie.providers.config import parse_providers
from causerie.providers.embeddings import encoded, in_order
from causerie.providers.registry import ProviderRegistry
from causerie.retrieval.embed import EMBEDDING_MODEL
from causerie.storage import Database
from causerie.storage.preferences import PRIVATE_NAMES, Preferences
from causerie.storage.usage import UsageLedger
from tests.conftest import Server
from tests.helpers import client_for, multi_user
from tests.providers.conftest import served_with, start_server
from tests.providers.relay import Relay

MODEL = "gemma-3-270m-q4_k_m"
UP = f"up/{EMBEDDING_MODEL}"  # external, policy redact (the default), through the relay
STRICT = f"strict/{EMBEDDING_MODEL}"  # external, policy block, through the relay
TEXTS = ["The harbour of Brest closes at noon on Sundays.", "Tomatoes need six hours of sun."]


def providers_file(path: Path, relay: Relay) -> Path:
    path.write_text(
        f"""
[privacy]
names = ["Alice Martin"]

[providers.up]
base_url = "{relay.api_url}"
privacy = "external"
models = ["{MODEL}"]
embedding_models = ["{EMBEDDING_MODEL}", "missing-model"]

[providers.strict]
base_url = "{relay.api_url}"
privacy = "external"
policy = "block"
models = ["{MODEL}"]
embedding_models = ["{EMBEDDING_MODEL}"]
"""
    )
    return path


@pytest.fixture(scope="module")
def proxy(
    tmp_path_factory: pytest.TempPathFactory, model_dir: Path, module_relay: Relay
) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("embed-proxy")
    path = providers_file(data / "providers.toml", module_relay)
    server = start_server(data, model_dir, CAUSERIE_PROVIDERS_FILE=str(path))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def user(proxy: Server) -> tuple[str, str]:
    """A user of the proxy (made multi-user for good) and an API key of theirs: (id, key)."""
    with multi_user(proxy) as accounts:
        account = accounts.create_user("cli", f"u{uuid.uuid4().hex[:10]}", "password-123")
        _, key = accounts.credentials.create_key(account.id, "test")
    return account.id, key


@pytest.fixture
def client(proxy: Server, user: tuple[str, str]) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=proxy.api_url, api_key=user[1], max_retries=0) as client:
        yield client


def direct(upstream: Server, texts: list[str]) -> np.ndarray:
    """The upstream's own vectors for ``texts``, asked for without the proxy."""
    with client_for(upstream) as client:
        answer = client.embeddings.create(
            model=EMBEDDING_MODEL, input=texts, encoding_format="float"
        )
    return np.array([item.embedding for item in answer.data])


def usage_of(proxy: Server, user_id: str, model: str) -> tuple[int, int]:
    """(requests, prompt tokens) the proxy's ledger holds today for ``user_id`` on ``model``."""
    database = Database(proxy.database_url)
    try:
        lines = UsageLedger(database).lines(since=datetime.now(UTC).date(), user_id=user_id)
    finally:
        database.dispose()
    found = [line for line in lines if line.model == model]
    return (found[0].requests, found[0].prompt_tokens) if found else (0, 0)


def test_float_and_base64_are_the_upstreams_vectors_and_usage_is_counted(
    client: openai.OpenAI,
    proxy: Server,
    user: tuple[str, str],
    upstream: Server,
    module_relay: Relay,
) -> None:
    before = usage_of(proxy, user[0], UP)
    floats = client.embeddings.create(model=UP, input=TEXTS, encoding_format="float", user="u1")
    sent = module_relay.bodies[-1]
    packed = client.embeddings.create(model=UP, input=TEXTS)  # base64, decoded by the client
    expected = direct(upstream, TEXTS)

    assert sent == {"model": EMBEDDING_MODEL, "input": TEXTS, "encoding_format": "float"}
    assert module_relay.bodies[-1]["encoding_format"] == "base64"
    assert floats.model == packed.model == UP
    assert [item.index for item in floats.data] == [0, 1]
    assert np.array_equal(np.array([item.embedding for item in floats.data]), expected)
    assert np.allclose(np.array([item.embedding for item in packed.data]), expected, atol=1e-7)
    with client_for(upstream) as upstream_client:
        theirs = upstream_client.embeddings.create(model=EMBEDDING_MODEL, input=TEXTS)
    assert floats.usage.prompt_tokens == floats.usage.total_tokens == theirs.usage.prompt_tokens
    requests, tokens = usage_of(proxy, user[0], UP)
    assert requests == before[0] + 2
    assert tokens == before[1] + 2 * theirs.usage.prompt_tokens


def test_base64_on_the_wire_is_the_upstreams_own(
    proxy: Server, user: tuple[str, str], upstream: Server
) -> None:
    body = {"model": UP, "input": TEXTS[0], "encoding_format": "base64"}
    headers = {"Authorization": f"Bearer {user[1]}"}
    answer = httpx.post(f"{proxy.api_url}/embeddings", json=body, headers=headers, timeout=60)
    theirs = httpx.post(
        f"{upstream.api_url}/embeddings", json={**body, "model": EMBEDDING_MODEL}, timeout=60
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"][0]["embedding"] == theirs.json()["data"][0]["embedding"]


def test_personal_data_is_redacted_before_it_leaves(
    client: openai.OpenAI,
    proxy: Server,
    user: tuple[str, str],
    module_relay: Relay,
    upstream: Server,
) -> None:
    database = Database(proxy.database_url)
    try:
        Preferences(database, user[0]).set(PRIVATE_NAMES, "Jean Dupont")  # the user's own
    finally:
        database.dispose()
    texts = [
        "Write to alice@example.com about Alice Martin.",
        "Jean Dupont answers at alice@example.com.",
    ]
    answer = client.embeddings.create(model=UP, input=texts, encoding_format="float")
    sent = module_relay.bodies[-1]["input"]
    assert sent == [
        "Write to [EMAIL_1] about [NAME_1].",
        "[NAME_2] answers at [EMAIL_1].",
    ]
    for value in ("alice@example.com", "Alice Martin", "Jean Dupont"):
        assert value not in str(module_relay.bodies[-1])
    # what was embedded is the redacted text
    got = np.array([item.embedding for item in answer.data])
    assert np.array_equal(got, direct(upstream, sent))
    assert proxy.log_path is not None
    assert "alice@example.com" not in proxy.log_path.read_text()


def test_block_policy_refuses_personal_data_before_sending_anything(
    client: openai.OpenAI, module_relay: Relay
) -> None:
    calls = module_relay.calls
    with pytest.raises(openai.BadRequestError) as refused:
        client.embeddings.create(model=STRICT, input=["fine", "call +33 6 12 34 56 78"])
    error = refused.value.body
    assert isinstance(error, dict) and error["code"] == "privacy_blocked"
    assert error["param"] == "input" and "1 phone" in error["message"]
    assert "12 34" not in error["message"]
    assert module_relay.calls == calls
    assert len(client.embeddings.create(model=STRICT, input=TEXTS).data) == 2  # nothing personal
    assert module_relay.calls == calls + 1


@pytest.mark.parametrize(
    "model", ["up/nope", "nowhere/x", f"up/{MODEL}", "text-embedding-3-small", "up"]
)
def test_a_model_no_provider_embeds_with_is_404(client: openai.OpenAI, model: str) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client.embeddings.create(model=model, input="hello")
    error = missing.value.body
    assert isinstance(error, dict) and error["code"] == "model_not_found"
    assert error["param"] == "model"
    assert f"`{EMBEDDING_MODEL}`, `{UP}`" in error["message"]


def test_upstream_errors_are_openai_errors(client: openai.OpenAI, module_relay: Relay) -> None:
    # a model the file names but the upstream does not have: the upstream's 404
    with pytest.raises(openai.NotFoundError, match="answered 404") as missing:
        client.embeddings.create(model="up/missing-model", input="hello")
    assert missing.value.code == "model_not_found"
    # a request the upstream refuses (its model's vectors cannot be cut short): its 400
    with pytest.raises(openai.BadRequestError) as refused:
        client.embeddings.create(model=UP, input="hello", dimensions=64)
    assert refused.value.body["param"] == "dimensions"  # type: ignore[index]
    assert module_relay.bodies[-1]["dimensions"] == 64
    module_relay.force(503)
    with pytest.raises(openai.InternalServerError) as down:
        client.embeddings.create(model=UP, input="hello")
    assert down.value.status_code == 503 and down.value.code == "provider_unavailable"
    module_relay.force(429, retry_after="30")
    with pytest.raises(openai.RateLimitError, match="answered 429") as limited:
        client.embeddings.create(model=UP, input="hello")
    assert limited.value.response.headers["retry-after"] == "30"


def test_models_retrieves_but_does_not_list_the_embedding_models(client: openai.OpenAI) -> None:
    listed = {model.id for model in client.models.list().data}
    assert f"up/{MODEL}" in listed
    assert UP not in listed and STRICT not in listed and EMBEDDING_MODEL not in listed
    card = client.models.retrieve(UP)
    assert (card.id, card.owned_by) == (UP, "up")
    assert client.models.retrieve(EMBEDDING_MODEL).id == EMBEDDING_MODEL
    assert client.models.retrieve(f"up/{MODEL}").id == f"up/{MODEL}"  # a chat model too
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("up/nope")


def test_local_only_mode_sends_an_external_provider_nothing(
    tmp_path: Path, model_dir: Path, module_relay: Relay
) -> None:
    providers = (
        f'[providers.up]\nbase_url = "{module_relay.api_url}"\nprivacy = "external"\n'
        f'policy = "allow"\nmodels = ["{MODEL}"]\nembedding_models = ["{EMBEDDING_MODEL}"]\n'
    )
    with served_with(tmp_path, model_dir, providers, CAUSERIE_LOCAL_ONLY="1") as server:
        calls = module_relay.calls
        with client_for(server) as client:
            with pytest.raises(openai.BadRequestError, match="Local-only mode") as refused:
                client.embeddings.create(model=UP, input=TEXTS)
            assert refused.value.code == "privacy_blocked"
            local = client.embeddings.create(model=EMBEDDING_MODEL, input=TEXTS)  # still served
        assert local.model == EMBEDDING_MODEL and len(local.data) == 2
        assert module_relay.calls == calls


# -- the parts without a server ------------------------------------------------------------------


def test_vectors_come_back_in_the_callers_encoding_whichever_the_upstream_sent() -> None:
    floats = [0.25, -1.5, 3.0]
    packed = base64.b64encode(np.array(floats, dtype="<f4").tobytes()).decode("ascii")
    assert encoded(floats, "float") == floats
    assert encoded(floats, "base64") == packed
    assert encoded(packed, "base64") == packed
    assert encoded(packed, "float") == floats
    for junk in ("not base64!", "AAA=", ["a"], [[1.0]], None, [True]):
        with pytest.raises((ValueError, TypeError)):
            encoded(junk, "float")  # type: ignore[arg-type]
    data = {"data": [{"index": 1, "embedding": "b"}, {"index": 0, "embedding": "a"}]}
    assert in_order(data, 2) == ["a", "b"]
    with pytest.raises(ValueError, match="1 indexed vectors for 2 inputs"):
        in_order({"data": data["data"][:1]}, 2)


def test_names_resolve_to_a_providers_embedding_models_only() -> None:
    config = parse_providers(
        {
            "providers": {
                "a": {"base_url": "http://127.0.0.1:9/v1", "models": ["chat"]},
                "b": {
                    "base_url": "http://127.0.0.1:9/v1",
                    "models": ["chat"],
                    "embedding_models": ["BAAI/bge-m3", "e5"],
                    "privacy": "trusted",
                },
            }
        },
        environ={"CAUSERIE_PROVIDER_A_EMBEDDING_MODELS": "e5, small"},
    )
    registry = ProviderRegistry()
    registry.configure(config)
    asyncio.run(registry.close())  # nothing is sent: its clients are not needed
    assert [(p.name, p.embedding_models) for p in config.providers] == [
        ("a", ["e5", "small"]),
        ("b", ["BAAI/bge-m3", "e5"]),
    ]
    found = {
        name: (served[0].name, served[1]) if (served := registry.embeddings_for(name)) else None
        for name in ("b/BAAI/bge-m3", "BAAI/bge-m3", "e5", "b/e5", "a/chat", "b/small", "chat")
    }
    assert found == {
        "b/BAAI/bge-m3": ("b", "BAAI/bge-m3"),
        "BAAI/bge-m3": ("b", "BAAI/bge-m3"),
        "e5": ("a", "e5"),  # a bare id: the first provider that lists it
        "b/e5": ("b", "e5"),
        "a/chat": None,
        "b/small": None,
        "chat": None,
    }
    assert [m.id for m in registry.embedding_models()] == [
        "a/e5",
        "a/small",
        "b/BAAI/bge-m3",
        "b/e5",
    ]
    assert not any(m.id.endswith(("e5", "small", "bge-m3")) for m in registry.models())
    # the external provider sits behind the firewall; the trusted one with policy allow does not
    served_a, served_b = registry.embeddings_for("a/e5"), registry.embeddings_for("b/e5")
    assert served_a is not None and served_a[0].firewall is not None
    assert served_b is not None and served_b[0].firewall is None
