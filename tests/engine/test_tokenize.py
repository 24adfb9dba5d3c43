"""Long texts are tokenized in pieces: the same tokens as one call, in linear time."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from causerie.engine.model import TOKENIZE_PIECE, LoadedModel, newline_pieces
from causerie.engine.templates import resolve_template
from causerie.types import Message


@pytest.fixture(scope="module")
def model(model_dir: Path) -> Iterator[LoadedModel]:
    loaded = LoadedModel(next(model_dir.glob("*.gguf")), context_size=4096)
    yield loaded
    loaded.close()


def whole(model: LoadedModel, text: str) -> list[int]:
    return list(model.llama.tokenize(text.encode(), add_bos=True, special=True))


def test_pieces_cover_the_text_and_end_after_newline_runs() -> None:
    text = "ab\ncd\n\n\nef" * 50
    pieces = newline_pieces(text, 16)
    assert "".join(text[a:b] for a, b in pieces) == text
    assert all(text[b - 1] == "\n" and text[b] != "\n" for _, b in pieces[:-1])


def test_the_bundled_vocabulary_allows_exact_cuts(model: LoadedModel) -> None:
    assert model.newline_cuts_are_exact  # no token holds a newline followed by another character


def test_pieces_give_the_same_tokens_as_one_call(model: LoadedModel) -> None:
    rng = random.Random(7)
    words = ["Paris", "é", "  ", "\t", "<start_of_turn>", "x", "The", "42", "🙂", "\n", "\n\n\n"]
    for _ in range(5):
        text = "".join(rng.choice(words) + rng.choice(["", " ", "\n", "\n\n"]) for _ in range(6000))
        assert len(text) > TOKENIZE_PIECE
        assert model.tokenize(text, add_bos=True) == whole(model, text)


def test_a_chat_of_many_turns_is_the_same_and_a_limit_stops_early(model: LoadedModel) -> None:
    template = resolve_template(model.metadata, bos=model.bos_text, eos=model.eos_text)
    turns = [Message("user" if i % 2 == 0 else "assistant", f"turn {i}") for i in range(3000)]
    text = template.prompt(turns)
    tokens = model.tokenize(text, add_bos=True)
    assert tokens == whole(model, text)
    cut = model.tokenize(text, add_bos=True, limit=4096)
    assert 4096 < len(cut) < len(tokens) and cut == tokens[: len(cut)]
