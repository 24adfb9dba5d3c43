"""Model names and aliases -> the provider that serves them."""

from __future__ import annotations

from causerie.errors import ModelNotFoundError
from causerie.providers.base import Provider
from causerie.types import ModelInfo

DEFAULT_ALIAS = "default"


class ProviderRegistry:
    """Knows every served model. The first registered model is also reachable as ``default``."""

    def __init__(self) -> None:
        self._providers: list[Provider] = []
        self._routes: dict[str, tuple[Provider, str]] = {}

    def add(self, provider: Provider) -> None:
        self._providers.append(provider)
        for info in provider.models():
            self._routes.setdefault(info.id, (provider, info.id))
            for alias in info.aliases:
                self._routes.setdefault(alias, (provider, info.id))
            self._routes.setdefault(DEFAULT_ALIAS, (provider, info.id))

    def models(self) -> list[ModelInfo]:
        return [info for provider in self._providers for info in provider.models()]

    def resolve(self, name: str) -> tuple[Provider, str]:
        """The provider and canonical model id for a requested model name."""
        route = self._routes.get(name) or self._routes.get(name.removesuffix(".gguf"))
        if route is None:
            raise ModelNotFoundError(
                f"The model `{name}` does not exist. Available models: "
                f"{', '.join(sorted(self._routes))}.",
                param="model",
            )
        return route

    @property
    def default_model(self) -> str:
        return self.resolve(DEFAULT_ALIAS)[1]

    async def close(self) -> None:
        for provider in self._providers:
            await provider.close()
