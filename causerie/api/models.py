"""``GET /v1/models``."""

from __future__ import annotations

from fastapi import APIRouter

from causerie.api.schemas import ModelCard, ModelList
from causerie.deps import RegistryDep
from causerie.errors import ModelNotFoundError

router = APIRouter()


@router.get("/v1/models", response_model=ModelList, summary="List models")
async def list_models(registry: RegistryDep) -> ModelList:
    return ModelList(
        data=[
            ModelCard(id=info.id, created=info.created, owned_by=info.owned_by)
            for info in registry.models()
        ]
    )


@router.get("/v1/models/{model_id}", response_model=ModelCard, summary="Retrieve a model")
async def get_model(model_id: str, registry: RegistryDep) -> ModelCard:
    for info in registry.models():
        if info.id == model_id:
            return ModelCard(id=info.id, created=info.created, owned_by=info.owned_by)
    raise ModelNotFoundError(f"The model `{model_id}` does not exist.", param="model")
