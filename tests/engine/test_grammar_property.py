"""Every tool schema is either refused up front or gives a grammar the engine samples with.

Hypothesis writes schemas (types, enums, bounds, nesting and regular expressions, valid or not);
each must be refused by ``tool_call_grammar``/``check_grammar`` (a 400), or sample a few tokens
in the engine *process* without an error: a grammar that made llama.cpp throw would kill that
process, and the test would see it, instead of killing the test run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from causerie.engine.client import EngineProcess
from causerie.engine.grammar import tool_call_grammar, tools_preamble
from causerie.engine.model import LoadedModel
from causerie.engine.requests import GenerationRequest
from causerie.engine.sampling import GrammarError, check_grammar
from causerie.engine.scheduler import EngineConfig
from causerie.types import SamplingParams, ToolSpec
from tests.helpers import ENGINE_THREADS

PATTERN_PIECES = ["a", "z", "[a-z]", "[z-a]", "[0-9]+", "\\d", "(", ")", "|", "?", "*", "{2}",
                  "^", "$", ".", "[^a]", "\\w", "[]", "x{1,3}", "[\\u00e9-\\u00ff]"]  # fmt: skip

patterns = st.lists(st.sampled_from(PATTERN_PIECES), min_size=1, max_size=6).map("".join)
leaves = st.one_of(
    st.just({"type": "string"}),
    st.builds(lambda p: {"type": "string", "pattern": p}, patterns),
    st.builds(
        lambda lo, hi: {"type": "string", "minLength": lo, "maxLength": hi},
        st.integers(0, 5),
        st.integers(0, 5),
    ),
    st.builds(lambda v: {"enum": v}, st.lists(st.text(max_size=5), min_size=1, max_size=3)),
    st.just({"type": "integer"}),
    st.just({"type": "number"}),
    st.just({"type": "boolean"}),
)
schemas = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds(
            lambda items, lo: {"type": "array", "items": items, "minItems": lo, "maxItems": 2},
            inner,
            st.integers(0, 3),
        ),
        st.builds(
            lambda props: {"type": "object", "properties": props, "required": list(props)[:1]},
            st.dictionaries(st.sampled_from(["a", "b", "c"]), inner, min_size=1, max_size=3),
        ),
    ),
    max_leaves=4,
)


@pytest.fixture(scope="module")
def vocab_model(model_dir: Path) -> Iterator[LoadedModel]:
    loaded = LoadedModel(next(model_dir.glob("*.gguf")), context_size=1024, vocab_only=True)
    yield loaded
    loaded.close()


@pytest.fixture(scope="module")
def engine(model_dir: Path) -> Iterator[EngineProcess]:
    process = EngineProcess(
        next(model_dir.glob("*.gguf")), 1024, EngineConfig(1024, 1, 256, 64, ENGINE_THREADS, 4)
    )
    process.wait_started()
    yield process
    process.close()


async def sample(engine: EngineProcess, prompt: list[int], grammar: str) -> list[str]:
    request = GenerationRequest(prompt, SamplingParams(temperature=0), 6, (), grammar)
    return [delta.text async for delta in engine.submit(request, "property")]


@pytest.mark.slow  # an engine process of its own, 40 examples
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(schema=schemas)
def test_a_schema_is_refused_or_samples(
    engine: EngineProcess, vocab_model: LoadedModel, schema: dict[str, Any]
) -> None:
    tool = ToolSpec("f", "", {"type": "object", "properties": {"x": schema}, "required": ["x"]})
    try:
        grammar = tool_call_grammar([tool])
        check_grammar(vocab_model.vocab, grammar)
    except (ValueError, GrammarError):
        return  # refused with a 400 before anything reaches the engine
    prompt = vocab_model.tokenize(tools_preamble([tool]) + "\nUser: go\nAssistant:", add_bos=True)
    asyncio.run(sample(engine, prompt, grammar))  # an engine error or crash raises here
    assert engine.state().running and engine.state().restarts == 0
