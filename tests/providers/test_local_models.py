"""Several local models at once (``providers/local_models.py``), on the real model in this
process: a models directory holding the bundled GGUF and two more names for it (``alpha``,
``beta``: the same weights, so each must answer as the default does), a memory budget that
holds the default and one other, a short keep-alive where a test needs one.

Each GGUF is listed at once, loads on its first request (concurrent requests wait for one
load), the least recently used idle model makes room, a busy one is waited for (within the load
timeout, then 503 with Retry-After), an idle one goes after its keep-alive, a model too big for
the budget is a 503 that names it; ``/metrics``, ``/api/ps`` and ``/api/tags`` show what is
loaded and available."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from causerie.engine.footprint import estimate
from causerie.engine.model import BUNDLED_MODEL_FILE, LoadedModel
from causerie.types import Message
from tests.conftest import sqlite_server_with
from tests.helpers import client_for, long_stream_body
from tests.inprocess import InProcess, serve_in_process

pytestmark = pytest.mark.anyio

CONTEXT = 1024
PARALLEL = 2
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system
        shutil.copyfile(source, target)


@pytest.fixture(scope="module")
def pool_dir(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Path:
    directory = tmp_path_factory.mktemp("pool-models")
    bundled = model_dir / BUNDLED_MODEL_FILE
    for name in (BUNDLED_MODEL_FILE, "alpha.gguf", "beta.gguf"):
        link_or_copy(bundled, directory / name)
    return directory


@pytest.fixture(scope="module")
def one_model_mb(pool_dir: Path) -> int:
    """The estimate of one model's memory at the tests' context, in MiB."""
    path = pool_dir / BUNDLED_MODEL_FILE
    vocab = LoadedModel(path, context_size=CONTEXT, vocab_only=True)
    try:
        return estimate(path, vocab.metadata, CONTEXT * PARALLEL) // 2**20 + 1
    finally:
        vocab.close()


def pool_app(tmp: Path, pool_dir: Path, **settings: Any) -> Iterator[InProcess]:
    settings = {"context_size": CONTEXT, "parallel": PARALLEL, "engine_process": False, **settings}
    yield from serve_in_process(tmp, pool_dir, f"sqlite:///{tmp / 'causerie.db'}", **settings)


@pytest.fixture
def two_fit(tmp_path: Path, pool_dir: Path, one_model_mb: int) -> Iterator[InProcess]:
    """Room for the default and one other model; a keep-alive that never expires in a test."""
    yield from pool_app(tmp_path, pool_dir, models_memory_mb=2 * one_model_mb + one_model_mb // 2)


async def ask(app: InProcess, model: str, **extra: Any) -> str:
    async with app.openai() as client:
        reply = await client.chat.completions.create(
            model=model, messages=QUESTION, max_tokens=8, temperature=0, **extra
        )
    return reply.choices[0].message.content or ""


def loaded(app: InProcess) -> set[str]:
    return set(app.services.local_models.resident)


async def metrics(app: InProcess) -> str:
    async with app.http() as http:
        return (await http.get("/metrics")).text


async def test_every_gguf_is_listed_and_loads_on_first_use(two_fit: InProcess) -> None:
    async with two_fit.openai() as client:
        listed = {model.id async for model in client.models.list()}
    assert {"gemma-3-270m-q4_k_m", "alpha", "beta"} <= listed
    assert loaded(two_fit) == {"gemma-3-270m-q4_k_m"}

    expected = await ask(two_fit, "default")
    answers = await asyncio.gather(*(ask(two_fit, "alpha") for _ in range(3)))
    assert answers == [expected] * 3  # the same weights, greedy: the same words
    assert loaded(two_fit) == {"gemma-3-270m-q4_k_m", "alpha"}
    text = await metrics(two_fit)
    assert 'causerie_local_model_loads_total{model="alpha"} 1.0' in text  # one load for three
    assert "causerie_local_models_loaded 2.0" in text


async def test_the_least_recently_used_idle_model_makes_room(two_fit: InProcess) -> None:
    await ask(two_fit, "alpha")
    assert await ask(two_fit, "beta") == await ask(two_fit, "default")
    assert loaded(two_fit) == {"gemma-3-270m-q4_k_m", "beta"}
    text = await metrics(two_fit)
    assert 'causerie_local_model_unloads_total{model="alpha",reason="budget"} 1.0' in text
    assert await ask(two_fit, "alpha")  # and back
    assert loaded(two_fit) == {"gemma-3-270m-q4_k_m", "alpha"}


async def test_a_busy_model_is_waited_for_then_gives_way(
    tmp_path: Path, pool_dir: Path, one_model_mb: int
) -> None:
    budget = 2 * one_model_mb + one_model_mb // 2
    for app in pool_app(tmp_path, pool_dir, models_memory_mb=budget, model_load_timeout=5):
        body = {**long_stream_body(max_tokens=1500), "model": "alpha"}
        body["extra_body"] = {"repeat_penalty": body.pop("repeat_penalty")}
        async with app.openai() as client:
            # The whole request on a task (the in-process transport reads a stream whole).
            long_reply = asyncio.create_task(client.chat.completions.create(**body))
            pool = app.services.local_models
            while "alpha" not in pool.resident or not pool.resident["alpha"].active:
                await asyncio.sleep(0.05)  # alpha is generating
            with pytest.raises(openai.APIStatusError) as refused:
                await ask(app, "beta")
            assert refused.value.status_code == 503
            assert refused.value.response.headers["retry-after"] == "10"
            assert "busy" in refused.value.message
            assert not long_reply.done() and pool.resident["alpha"].active
            long_reply.cancel()  # the client goes away: alpha's reply stops, alpha is idle
        assert await ask(app, "beta")  # alpha makes room
        assert loaded(app) == {"gemma-3-270m-q4_k_m", "beta"}


async def test_an_idle_model_is_unloaded_after_its_keep_alive(
    tmp_path: Path, pool_dir: Path
) -> None:
    for app in pool_app(tmp_path, pool_dir, model_keep_alive=0.5):
        await ask(app, "beta")
        assert "beta" in loaded(app)
        for _ in range(100):
            if "beta" not in loaded(app):
                break
            await asyncio.sleep(0.1)
        assert loaded(app) == {"gemma-3-270m-q4_k_m"}  # the default stays
        assert 'reason="idle"} 1.0' in await metrics(app)
        assert await ask(app, "beta")  # loads again


async def test_a_model_too_big_for_the_budget_is_refused_by_name(
    tmp_path: Path, pool_dir: Path, one_model_mb: int
) -> None:
    for app in pool_app(tmp_path, pool_dir, models_memory_mb=one_model_mb + one_model_mb // 2):
        with pytest.raises(openai.APIStatusError) as refused:
            await ask(app, "alpha")
        assert refused.value.status_code == 503
        body = refused.value.body
        assert isinstance(body, dict) and body["code"] == "insufficient_memory"
        assert "`alpha`" in refused.value.message
        assert "CAUSERIE_MODELS_MEMORY_MB" in refused.value.message
        assert loaded(app) == {"gemma-3-270m-q4_k_m"}
        assert await ask(app, "default")  # the default still answers


async def test_a_gguf_added_later_is_served(two_fit: InProcess, pool_dir: Path) -> None:
    added = pool_dir / "gamma.gguf"
    link_or_copy(pool_dir / BUNDLED_MODEL_FILE, added)
    try:
        async with two_fit.openai() as client:
            assert "gamma" in {model.id async for model in client.models.list()}
        assert await ask(two_fit, "gamma") == await ask(two_fit, "default")
    finally:
        added.unlink()


async def test_ollama_clients_see_what_is_loaded(two_fit: InProcess, pool_dir: Path) -> None:
    async with two_fit.http() as http:
        tags = (await http.get("/api/tags")).json()["models"]
        named = {model["name"]: model for model in tags}
        assert named["beta"]["size"] == (pool_dir / "beta.gguf").stat().st_size
        assert named["beta"]["details"]["quantization_level"] == "unknown"
        before = {m["name"] for m in (await http.get("/api/ps")).json()["models"]}
        assert before == {"gemma-3-270m-q4_k_m"}
        reply = await http.post(
            "/api/chat",
            json={"model": "beta", "messages": QUESTION, "stream": False},
        )
        assert reply.status_code == 200, reply.text
        after = {m["name"] for m in (await http.get("/api/ps")).json()["models"]}
        assert after == {"gemma-3-270m-q4_k_m", "beta"}
        shown = (await http.post("/api/show", json={"model": "beta"})).json()
        assert shown["details"]["quantization_level"] == "Q4_K_M"  # read from the loaded file


def engine_processes(parent: int) -> list[int]:
    """The engine processes a server started (children running ``causerie.engine.process``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"causerie.engine.process" in command:
            found.append(int(entry.name))
    return found


@pytest.mark.slow  # a server of its own
def test_each_model_has_an_engine_process_of_its_own(tmp_path: Path, pool_dir: Path) -> None:
    """A real ``causerie serve``: another model starts an engine process, its measured memory
    is in ``/metrics``, and after its keep-alive the process is gone."""
    env = {"CAUSERIE_CONTEXT_SIZE": str(CONTEXT), "CAUSERIE_MODEL_KEEP_ALIVE": "2"}
    for server in sqlite_server_with(tmp_path, pool_dir, **env):
        assert server.process is not None
        assert len(engine_processes(server.process.pid)) == 1
        client = client_for(server)
        reply = client.chat.completions.create(
            model="alpha",
            messages=QUESTION,
            max_tokens=8,
            temperature=0,  # type: ignore[arg-type]
        )
        assert reply.model == "alpha" and reply.choices[0].message.content
        assert len(engine_processes(server.process.pid)) == 2
        text = httpx.get(f"{server.url}/metrics").text
        memory = re.search(r'causerie_local_model_memory_bytes\{model="alpha"\} (\S+)', text)
        assert memory is not None
        assert float(memory.group(1)) > (pool_dir / "alpha.gguf").stat().st_size
        deadline = time.monotonic() + 30
        while len(engine_processes(server.process.pid)) > 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(engine_processes(server.process.pid)) == 1  # alpha's engine stopped
        assert (
            'model="alpha"'
            not in httpx.get(f"{server.url}/metrics")
            .text.split("causerie_local_model_memory_bytes")[1]
            .split("# HELP")[0]
        )


async def test_the_page_offers_every_local_model(two_fit: InProcess) -> None:
    async with two_fit.http() as http:
        page = (await http.get("/")).text
    for name in ("gemma-3-270m-q4_k_m", "alpha", "beta"):
        assert f'<option value="{name}"' in page


async def test_an_unloaded_model_counts_with_its_own_tokenizer(two_fit: InProcess) -> None:
    """A page chat fits its history before the turn loads the model: counted without loading."""
    pool = two_fit.services.local_models
    messages = [Message("user", "What is the capital of France?")]
    counted = [pool.count_tokens("beta", messages) for _ in range(3)]
    assert "beta" not in loaded(two_fit)  # counting loads no weights
    assert counted == [pool.count_tokens("gemma-3-270m-q4_k_m", messages)] * 3  # same tokenizer
