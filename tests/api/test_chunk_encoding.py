"""The fast path for content chunks encodes exactly what the pydantic model would."""

from __future__ import annotations

import json

import pytest

from causerie.api.schemas import ChatCompletionChunk, ChunkChoice, ChunkDelta
from causerie.api.sse import ChunkEncoder


@pytest.mark.parametrize(
    "text",
    [
        "x",
        " Paris.",
        'quote " and \\ backslash',
        "line\nbreak\ttab",
        "Zoë 你好 🌍",
        "\u2028</script>",
    ],
)
def test_fast_content_chunk_equals_the_model(text: str) -> None:
    encoder = ChunkEncoder("chatcmpl-1", 1700000000, "gemma-3-270m-q4_k_m")
    fast = encoder.content(text)
    slow = ChunkEncoder.encode(
        ChatCompletionChunk(
            id="chatcmpl-1",
            created=1700000000,
            model="gemma-3-270m-q4_k_m",
            choices=[ChunkChoice(delta=ChunkDelta(content=text))],
        )
    )
    assert fast.startswith("data: ") and fast.endswith("\n\n")
    assert json.loads(fast[6:]) == json.loads(slow[6:])
