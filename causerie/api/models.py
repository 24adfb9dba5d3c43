"""``GET /v1/models``: the models the caller may use."""

from __future__ import annotations

from dataclasses import replace

from anyio import to_thread
from fastapi import APIRouter

from causerie.api.schemas import ModelCard, ModelList, error_responses
from causerie.auth.principal import Principal
from causerie.deps import ApiPrincipal, ServicesDep
from causerie.errors import ModelNotFoundError
from causerie.services import Services
from causerie.types import ModelInfo

router = APIRouter()


async def visible_models(
    services: Services, principal: Principal, *extra: ModelInfo
) -> list[ModelInfo]:
    allowed = await to_thread.run_sync(services.quotas.allowed_models, principal)
    models = [*services.registry.models(), *extra]
    if allowed is None:
        return models
    return [
        info for info in models if info.id in allowed or canonical(services, info.id) in allowed
    ]


def canonical(services: Services, name: str) -> str | None:
    """The id a model name stands for: a chat model's, or a provider's embedding model's as
    ``<provider>/<model>`` (None: no model has that name)."""
    served = services.registry.embeddings_for(name)
    if served is not None:
        return served[0].label(served[1])
    try:
        return services.registry.resolve(name)[1]
    except ModelNotFoundError:
        return None


@router.get(
    "/v1/models", response_model=ModelList, summary="List models", responses=error_responses(401)
)
async def list_models(services: ServicesDep, principal: ApiPrincipal) -> ModelList:
    """Every name a chat request accepts: the models, then the other names of those the caller
    may use (``default``, a model's aliases), so a client that offers only listed names (Open
    WebUI) can pick them too."""
    listed = await visible_models(services, principal)
    return ModelList(
        data=[
            ModelCard(id=info.id, created=info.created, owned_by=info.owned_by)
            for info in [*listed, *other_names(services, listed)]
        ]
    )


def other_names(services: Services, listed: list[ModelInfo]) -> list[ModelInfo]:
    """The names that stand for one of the ``listed`` models without being listed, each
    described as that model."""
    by_id = {info.id: info for info in listed}
    found = []
    for name in services.registry.route_names():
        model = by_id.get(canonical(services, name) or "")
        if name not in by_id and model is not None:
            found.append(replace(model, id=name))
    return found


@router.get(
    "/v1/models/{model_id:path}",  # upstream ids hold a slash: up/gpt-4o-mini
    response_model=ModelCard,
    summary="Retrieve a model",
    responses=error_responses(401, 404),
)
async def get_model(model_id: str, services: ServicesDep, principal: ApiPrincipal) -> ModelCard:
    """Every name a request accepts: listed ids, aliases such as ``default``, and the embedding
    models, local and the providers' (not listed: clients and proxies that discover models from
    the list take every entry for a chat model)."""
    embedding = [ModelInfo(services.embedder.name), *services.registry.embedding_models()]
    visible = {info.id: info for info in await visible_models(services, principal, *embedding)}
    info = visible.get(model_id)
    if info is None:
        info = visible.get(canonical(services, model_id) or "")
    if info is None:
        raise ModelNotFoundError(f"The model `{model_id}` does not exist.", param="model")
    return ModelCard(id=model_id, created=info.created, owned_by=info.owned_by)
