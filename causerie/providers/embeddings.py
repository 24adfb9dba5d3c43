"""A provider's embedding models: ``POST /v1/embeddings`` for ``<provider>/<model>``.

The providers file names them (``embedding_models``); they are never discovered, and never chat
models. A request goes to the upstream's ``/embeddings`` through its ``OpenAICompatProvider``
(base URL, API key, headers, timeouts, concurrency limit), behind the same privacy firewall as
its chat: inputs redacted (``redact``), a request holding personal data refused (``block``),
nothing sent to an external provider in local-only mode. There is no failover: two models'
vectors cannot be compared.

The vectors come back in the caller's ``encoding_format`` whichever the upstream sent (floats,
or base64 of little-endian float32); the tokens counted are the upstream's.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from causerie.errors import ProviderError
from causerie.providers.base import Provider
from causerie.providers.openai_compat import OpenAICompatProvider
from causerie.providers.redacting import RedactingProvider
from causerie.types import ModelInfo, TurnContext

EncodingFormat = Literal["float", "base64"]
Vector = Sequence[float] | npt.NDArray[np.floating[Any]] | str


@dataclass(frozen=True)
class Embeddings:
    """An upstream's answer: one vector a text, in the caller's encoding."""

    model: str  # <provider>/<model>, as usage records it
    vectors: list[list[float] | str]
    prompt_tokens: int


class UpstreamEmbeddings:
    """One provider's embedding models, behind its privacy firewall when one stands before it."""

    def __init__(
        self, upstream: OpenAICompatProvider, firewall: RedactingProvider | None = None
    ) -> None:
        self.upstream = upstream
        self.firewall = firewall
        self.name = upstream.name
        self.model_ids = tuple(upstream.config.embedding_models)

    @property
    def provider(self) -> Provider:
        """What a request meets first (whether it needs the user's private names)."""
        return self.firewall or self.upstream

    def label(self, model: str) -> str:
        return f"{self.name}/{model}"

    def models(self) -> list[ModelInfo]:
        return [ModelInfo(id=self.label(model), owned_by=self.name) for model in self.model_ids]

    async def create(
        self,
        model: str,
        texts: Sequence[str],
        *,
        encoding_format: EncodingFormat,
        dimensions: int | None,
        context: TurnContext,
    ) -> Embeddings:
        """Embed ``texts`` with the upstream's ``model``; raises ``PrivacyBlockedError`` before
        anything is sent, and the upstream's failures as chat does before a first token."""
        sent = list(texts)
        if self.firewall is not None:
            sent = self.firewall.redacted_texts(texts, context, param="input")
        body: dict[str, Any] = {"model": model, "input": sent, "encoding_format": encoding_format}
        if dimensions is not None:
            body["dimensions"] = dimensions
        data = await self.upstream.post_json("embeddings", body)
        try:
            vectors = [encoded(v, encoding_format) for v in in_order(data, len(sent))]
        except (ValueError, TypeError) as exc:
            raise ProviderError(
                f"The upstream `{self.name}` sent embeddings that cannot be read ({exc})."
            ) from exc
        return Embeddings(self.label(model), vectors, prompt_tokens(data, sent))


def in_order(data: dict[str, Any], count: int) -> list[Any]:
    """The ``embedding`` of each of ``data``'s items, by ``index``: exactly one per input."""
    items = data.get("data")
    found: dict[int, Any] = {}
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("index"), int):
            found[item["index"]] = item.get("embedding")
    if sorted(found) != list(range(count)):
        raise ValueError(f"{len(found)} indexed vectors for {count} inputs")
    return [found[index] for index in range(count)]


def encoded(vector: Vector, encoding: EncodingFormat) -> list[float] | str:
    """A vector in ``encoding``, whichever it came in: floats (kept as they are), or base64 of
    little-endian float32 (OpenAI's and the ``openai`` client's default). Raises ValueError or
    TypeError for what is not a vector."""
    if isinstance(vector, str):
        array = unpacked(vector)  # read, to refuse what is not one
        if encoding == "base64":
            return vector
    else:
        array = np.asarray(vector)
        if array.ndim != 1 or not np.issubdtype(array.dtype, np.number):
            raise ValueError("an embedding is a list of numbers")
        if encoding == "base64":
            return base64.b64encode(array.astype("<f4").tobytes()).decode("ascii")
    floats: list[float] = array.tolist()
    return floats


def unpacked(text: str) -> npt.NDArray[np.float32]:
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError("invalid base64") from exc
    if len(raw) % 4:
        raise ValueError("base64 that is not float32")
    return np.frombuffer(raw, dtype="<f4")


def prompt_tokens(data: dict[str, Any], sent: Sequence[str]) -> int:
    """The upstream's ``usage.prompt_tokens`` (or ``total_tokens``); without either, estimated as
    for a remote chat model: about 3 characters a token."""
    usage = data.get("usage")
    if isinstance(usage, dict):
        for field in ("prompt_tokens", "total_tokens"):
            value = usage.get(field)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                return value
    return sum(math.ceil(len(text) / 3) for text in sent)
