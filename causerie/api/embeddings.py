"""``POST /v1/embeddings``: OpenAI's embeddings endpoint, served by the local embedding model,
and by a provider's embedding models named in the providers file (``providers/embeddings.py``).

The local model embeds the uploaded documents' passages too (``retrieval/embed.py``). Like OpenAI's:
``input`` is a string or a list of up to 2,048 strings, none empty; ``encoding_format`` is
``float`` or ``base64`` (little-endian float32, what the ``openai`` client asks for by default);
``dimensions``, when given, must be the model's own (512: the model's vectors cannot be cut
short; a provider's model gets it as sent). Inputs given as token ids are refused: they are ids
of another model's tokenizer, and the privacy firewall could not read them. The tokens read
(the upstream's count, for a provider's model) count in the caller's usage and quota like a
chat's prompt.
"""

from __future__ import annotations

from typing import Literal

from anyio import to_thread
from fastapi import APIRouter
from pydantic import BaseModel, Field

from causerie.api.schemas import error_responses
from causerie.auth.principal import Principal
from causerie.deps import ApiPrincipal, ServicesDep
from causerie.errors import InvalidRequestError, ModelNotFoundError, UnsupportedParameterError
from causerie.providers.embeddings import UpstreamEmbeddings, encoded
from causerie.services import Services

router = APIRouter()

MAX_INPUTS = 2048


class EmbeddingRequest(BaseModel):
    input: str | list[str] | list[int] | list[list[int]]
    model: str
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)
    user: str | None = None  # accepted, not used (docs/api.md)

    def texts(self) -> list[str]:
        """The inputs as texts, or a 400 naming what is wrong with them."""
        items = [self.input] if isinstance(self.input, str) else list(self.input)
        if not items:
            raise InvalidRequestError("`input` must not be an empty list.", param="input")
        if len(items) > MAX_INPUTS:
            raise InvalidRequestError(
                f"`input` holds {len(items)} items; at most {MAX_INPUTS} are allowed.",
                param="input",
            )
        if not all(isinstance(item, str) for item in items):
            raise UnsupportedParameterError(
                "`input` as token ids is not supported: send the text itself.", param="input"
            )
        texts = [item for item in items if isinstance(item, str)]
        if any(not text for text in texts):
            raise InvalidRequestError("`input` must not contain an empty string.", param="input")
        return texts


class Embedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class EmbeddingUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage


@router.post(
    "/v1/embeddings",
    response_model=EmbeddingList,
    summary="Create embeddings",
    responses=error_responses(400, 401, 404, 413, 429, 502, 503),
)
async def create_embeddings(
    body: EmbeddingRequest, services: ServicesDep, principal: ApiPrincipal
) -> EmbeddingList:
    embedder = services.embedder
    served = embedding_target(services, body.model)
    if served is not None:
        return await from_provider(body, services, principal, *served)
    if body.dimensions is not None and body.dimensions != embedder.dimensions:
        raise UnsupportedParameterError(
            f"`{embedder.name}` makes vectors of {embedder.dimensions} dimensions only.",
            param="dimensions",
        )
    texts = body.texts()
    admission = await services.quotas.admit(principal, [embedder.name])
    try:
        vectors = await to_thread.run_sync(embedder.embed, texts)
        tokens = await to_thread.run_sync(embedder.count_tokens, texts)
        await services.quotas.charge(principal, embedder.name, prompt_tokens=tokens)
    finally:
        await admission.release()
    return listed([encoded(v, body.encoding_format) for v in vectors], embedder.name, tokens)


def embedding_target(services: Services, model: str) -> tuple[UpstreamEmbeddings, str] | None:
    """Who embeds with ``model``: the local model (None), a provider's model (the provider and
    the model's name there), or no one (a 404 naming the embedding models)."""
    if model == services.embedder.name:
        return None
    served = services.registry.embeddings_for(model)
    if served is None:
        names = [services.embedder.name, *(m.id for m in services.registry.embedding_models())]
        raise ModelNotFoundError(
            f"The model `{model}` does not exist or is not an embedding model; "
            f"this server embeds with {', '.join(f'`{name}`' for name in names)}.",
            param="model",
        )
    return served


async def from_provider(
    body: EmbeddingRequest,
    services: Services,
    principal: Principal,
    upstream: UpstreamEmbeddings,
    model: str,
) -> EmbeddingList:
    """A provider's embedding model: admitted and charged as the local one, sent through the
    provider's privacy firewall (``UpstreamEmbeddings.create``)."""
    texts = body.texts()
    admission = await services.quotas.admit(principal, [body.model, upstream.label(model)])
    try:
        context = await services.chat.context_for(principal.caller(), upstream.provider)
        result = await upstream.create(
            model,
            texts,
            encoding_format=body.encoding_format,
            dimensions=body.dimensions,
            context=context,
        )
        await services.quotas.charge(principal, result.model, prompt_tokens=result.prompt_tokens)
    finally:
        await admission.release()
    return listed(result.vectors, result.model, result.prompt_tokens)


def listed(vectors: list[list[float] | str], model: str, tokens: int) -> EmbeddingList:
    return EmbeddingList(
        data=[Embedding(index=i, embedding=vector) for i, vector in enumerate(vectors)],
        model=model,
        usage=EmbeddingUsage(prompt_tokens=tokens, total_tokens=tokens),
    )
