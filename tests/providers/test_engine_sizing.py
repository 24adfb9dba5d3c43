"""The engine sizes itself from the model and the machine when the settings leave it open
(``providers/local.py``: ``auto_parallel``, ``engine_config``), from the real bundled GGUF's
metadata."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from causerie.config import Settings
from causerie.engine.footprint import kv_cache_bytes
from causerie.engine.model import BUNDLED_MODEL_FILE, LoadedModel
from causerie.providers.local import PARALLEL_CAP, auto_parallel, engine_config

GIB = 2**30


@pytest.fixture(scope="module")
def metadata(model_dir: Path) -> Iterator[dict[str, str]]:
    model = LoadedModel(model_dir / BUNDLED_MODEL_FILE, context_size=512, vocab_only=True)
    yield model.metadata
    model.close()


def test_the_kv_cache_is_read_from_the_gguf(metadata: dict[str, str]) -> None:
    # Gemma 3 270M: 18 layers, 1 KV head of 256 for keys and values, 16-bit: 18 KiB a token.
    assert kv_cache_bytes(metadata, 1) == 18 * 1 * (256 + 256) * 2
    assert kv_cache_bytes({}, 4096) == 0  # nothing to tell from


def test_sequences_follow_the_machines_memory(metadata: dict[str, str]) -> None:
    per_sequence = kv_cache_bytes(metadata, 4096)  # 72 MiB
    assert auto_parallel(metadata, 4096, 24 * GIB) == PARALLEL_CAP
    assert auto_parallel(metadata, 4096, 8 * per_sequence * 5) == 5  # an eighth holds 5
    assert auto_parallel(metadata, 4096, 1 * GIB) == 1  # never none
    assert auto_parallel({}, 4096, 24 * GIB) == 4  # a model that says nothing of its layers
    assert auto_parallel(metadata, 1024, 2 * GIB) == min(
        PARALLEL_CAP, 2 * GIB // 8 // (per_sequence // 4)
    )


def test_a_setting_wins_over_the_default(metadata: dict[str, str]) -> None:
    assert engine_config(Settings(parallel=3), metadata).parallel == 3
    sized = engine_config(Settings(), metadata)
    assert 1 <= sized.parallel <= PARALLEL_CAP
    assert engine_config(Settings(state_cache_mb=0), metadata).state_cache_bytes == 0
    assert engine_config(Settings(state_cache_mb=100), metadata).state_cache_bytes == 100 * 2**20
    assert 0 < sized.state_cache_bytes <= 8 * GIB
