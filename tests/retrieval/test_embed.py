"""The local embedding model, for real: unit vectors, meaning over words, French and English,
and its token count."""

from __future__ import annotations

import numpy as np

from causerie.retrieval.embed import DIMENSIONS
from tests.helpers import EMBEDDER


def test_unit_vectors_of_the_right_shape_for_any_text() -> None:
    vectors = EMBEDDER.embed(["Bonjour le monde", "", "x" * 20_000, "🙂"])
    assert vectors.shape == (4, DIMENSIONS) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert EMBEDDER.embed([]).shape == (0, DIMENSIONS)
    # the same text, the same vector, alone or in a batch
    alone = EMBEDDER.embed(["Bonjour le monde"])[0]
    assert np.allclose(alone, vectors[0], atol=1e-5)


def test_a_paraphrase_is_nearer_than_a_stranger_in_both_languages() -> None:
    question, paraphrase, stranger, french = EMBEDDER.embed(
        [
            "When does the train to Paris leave?",
            "What time is the departure of the Paris train?",
            "My cat sleeps on the sofa all afternoon.",
            "À quelle heure part le train pour Paris ?",
        ]
    )
    assert question @ paraphrase > question @ stranger + 0.2
    assert question @ french > question @ stranger + 0.2


def test_tokens_are_counted_as_the_model_reads_them() -> None:
    one = EMBEDDER.count_tokens(["hello"])
    assert one >= 1
    assert EMBEDDER.count_tokens(["hello", "hello"]) == 2 * one
    assert EMBEDDER.count_tokens(["hello world, how are you today?"]) > one
