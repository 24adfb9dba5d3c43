"""Model names and aliases -> the provider (or failover route) that serves them.

Names a client may ask for:
- a local model id (``gemma-3-270m-q4_k_m``), and ``default`` when no alias is configured;
- ``<provider>/<model>`` for a configured upstream (``openai/gpt-4o-mini``), or the bare model id
  when no earlier provider serves the same id;
- an alias from the providers file (``default``, ``fast``...), served by its targets in order.

Every remote name resolves to a ``Route`` (retries on short 429s, circuit breaker, failover), and
every upstream whose policy is not ``allow`` sits behind the privacy firewall.

A provider's embedding models (``embedding_models``) are named the same way but kept apart
(``embeddings_for``): ``/v1/embeddings`` serves them, chat and ``/v1/models`` do not.
"""

from __future__ import annotations

import logging

import httpx

from causerie.errors import ConfigurationError, ModelNotFoundError
from causerie.providers.base import Provider
from causerie.providers.config import ProvidersConfig
from causerie.providers.embeddings import UpstreamEmbeddings
from causerie.providers.openai_compat import OpenAICompatProvider
from causerie.providers.redacting import RedactingProvider
from causerie.providers.routing import Breaker, RetryPolicy, Route, Target
from causerie.types import ModelInfo

log = logging.getLogger(__name__)

DEFAULT_ALIAS = "default"


class ProviderRegistry:
    """Knows every served model. The first registered model is also reachable as ``default``."""

    def __init__(self) -> None:
        self._providers: list[Provider] = []
        self._routes: dict[str, tuple[Provider, str]] = {}
        self._remote: dict[str, Provider] = {}  # name -> provider (firewalled when it must be)
        self.upstreams: dict[str, OpenAICompatProvider] = {}
        self._embeddings: dict[str, UpstreamEmbeddings] = {}  # providers with embedding models
        self._breakers: dict[str, Breaker] = {}
        self._aliases: dict[str, Route] = {}
        self._retry = RetryPolicy()

    def add(self, provider: Provider) -> None:
        self._providers.append(provider)
        for info in provider.models():
            self._routes.setdefault(info.id, (provider, info.id))
            for alias in info.aliases:
                self._routes.setdefault(alias, (provider, info.id))
            self._routes.setdefault(DEFAULT_ALIAS, (provider, info.id))

    # -- configuration -------------------------------------------------------------------------

    def configure(self, config: ProvidersConfig, *, local_only: bool = False) -> None:
        """Add the upstreams and aliases of a providers file."""
        self._retry = RetryPolicy(config.routing.max_retry_wait, config.routing.retries)
        for entry in config.providers:
            if entry.name in self._remote or any(p.name == entry.name for p in self._providers):
                raise ConfigurationError(f"Two providers are named `{entry.name}`.")
            upstream = OpenAICompatProvider(entry)
            if entry.models is None:
                try:
                    upstream.discover()
                except (httpx.HTTPError, ValueError) as exc:
                    log.warning(
                        "provider %s: could not list its models (%s); name them in the file",
                        entry.name,
                        type(exc).__name__,
                    )
            provider: Provider = upstream
            # Every external provider stands behind the firewall, if only to refuse local-only
            # projects' turns.
            if entry.effective_policy != "allow" or entry.privacy == "external":
                provider = RedactingProvider(
                    upstream,
                    privacy=entry.privacy,
                    policy=entry.effective_policy,
                    names=config.privacy.names,
                    local_only=local_only,
                )
            self.upstreams[entry.name] = upstream
            self._remote[entry.name] = provider
            if entry.embedding_models:
                firewall = provider if isinstance(provider, RedactingProvider) else None
                self._embeddings[entry.name] = UpstreamEmbeddings(upstream, firewall)
            self._breakers[entry.name] = Breaker(entry.breaker_failures, entry.breaker_cooldown)
        for alias, targets in config.aliases.items():
            if not targets:
                raise ConfigurationError(f"The alias `{alias}` has no target.")
            parsed = [self._target(alias, text) for text in targets]
            model_id = parsed[0].label if len(parsed) == 1 else alias
            self._aliases[alias] = Route(alias, model_id, parsed, self._retry)

    def _breaker(self, name: str) -> Breaker:
        return self._breakers.setdefault(name, Breaker())

    def _target(self, alias: str, text: str) -> Target:
        """``provider/model``, ``provider`` (its first model) or a local model id."""
        name, _, model = text.partition("/")
        if name in self._remote:
            provider = self._remote[name]
            if not model:
                known = provider.models()
                if not known:
                    raise ConfigurationError(
                        f"Alias `{alias}`: the provider `{name}` lists no model; write "
                        f"`{name}/<model>`."
                    )
                model = known[0].id
            return Target(provider, model, self._breaker(name))
        local = next((p for p in self._providers if p.name == name), None)
        if local is not None:
            model = model or local.models()[0].id
            return Target(local, model, self._breaker(name))
        if text in self._routes:
            provider, model_id = self._routes[text]
            return Target(provider, model_id, self._breaker(provider.name))
        raise ConfigurationError(
            f"Alias `{alias}`: unknown target `{text}` (providers: "
            f"{', '.join([*(p.name for p in self._providers), *self._remote]) or 'none'})."
        )

    # -- lookups -------------------------------------------------------------------------------

    def models(self) -> list[ModelInfo]:
        local = [info for provider in self._providers for info in provider.models()]
        remote = [
            ModelInfo(
                id=f"{name}/{info.id}",
                owned_by=name,
                context_window=info.context_window,
                created=info.created,
            )
            for name, provider in self._remote.items()
            for info in provider.models()
        ]
        aliases = [route.models()[0] for route in self._aliases.values()]
        return [
            *local,
            *remote,
            *(
                ModelInfo(id=name, owned_by="causerie", context_window=info.context_window)
                for name, info in zip(self._aliases, aliases, strict=True)
            ),
        ]

    def route_names(self) -> list[str]:
        """The names ``resolve`` takes for a provider's model: its id, its aliases, and
        ``default`` (unless the providers file makes that an alias of its own)."""
        return list(self._routes)

    def resolve(self, name: str) -> tuple[Provider, str]:
        """The provider and canonical model id for a requested model name."""
        if name in self._aliases:
            route = self._aliases[name]
            return route, route.model_id
        route_ = self._routes.get(name) or self._routes.get(name.removesuffix(".gguf"))
        if route_ is not None:
            return route_
        local = self._local_target(name)
        if local is not None:
            return local
        remote = self._remote_route(name)
        if remote is not None:
            return remote, remote.model_id
        raise ModelNotFoundError(
            f"The model `{name}` does not exist. Available models: "
            f"{', '.join(sorted({*self._routes, *self._aliases, *(m.id for m in self.models())}))}.",
            param="model",
        )

    def _local_target(self, name: str) -> tuple[Provider, str] | None:
        """``local/<model>`` (how a route names a local model, and stores it with a reply), or
        a local model added since start (a GGUF pulled into the models directory)."""
        provider_name, _, model = name.partition("/")
        for provider in self._providers:
            ids = {info.id for info in provider.models()}
            if provider.name == provider_name and model in ids:
                return provider, model
            if name in ids or name.removesuffix(".gguf") in ids:
                return provider, name.removesuffix(".gguf")
        return None

    def _remote_route(self, name: str) -> Route | None:
        provider_name, _, model = name.partition("/")
        if model and provider_name in self._remote:
            target = Target(self._remote[provider_name], model, self._breaker(provider_name))
        else:  # a bare model id: the first upstream that lists it
            owner = next(
                (
                    p
                    for p, provider in self._remote.items()
                    if any(i.id == name for i in provider.models())
                ),
                None,
            )
            if owner is None:
                return None
            target = Target(self._remote[owner], name, self._breaker(owner))
        return Route(name, target.label, [target], self._retry)

    def embedding_models(self) -> list[ModelInfo]:
        """The providers' embedding models, as ``<provider>/<model>``."""
        return [info for remote in self._embeddings.values() for info in remote.models()]

    def embeddings_for(self, name: str) -> tuple[UpstreamEmbeddings, str] | None:
        """The provider and model id that serve the embedding model ``name``: ``<provider>/
        <model>``, or a bare model id (the first provider that lists it); None if none does."""
        provider_name, _, model = name.partition("/")
        remote = self._embeddings.get(provider_name)
        if remote is not None and model in remote.model_ids:
            return remote, model
        owner = next((r for r in self._embeddings.values() if name in r.model_ids), None)
        return (owner, name) if owner is not None else None

    def price_of(self, served_by: str) -> tuple[float, float]:
        """US dollars per million (input, output) tokens for a model as usage records it
        (``provider/model`` for an upstream; a local model costs nothing)."""
        provider, _, model = served_by.partition("/")
        upstream = self.upstreams.get(provider) if model else None
        if upstream is None:
            return 0.0, 0.0
        return upstream.config.price.input, upstream.config.price.output

    @property
    def redacts(self) -> bool:
        """Whether any upstream sits behind the privacy firewall (so users' names matter)."""
        return any(isinstance(p, RedactingProvider) for p in self._remote.values())

    def redacts_for(self, provider: Provider) -> bool:
        """Whether a turn on ``provider`` (a route: on any of its targets) may pass the privacy
        firewall, so the user's private names must travel with it."""
        if isinstance(provider, Route):
            return any(isinstance(t.provider, RedactingProvider) for t in provider.targets)
        return isinstance(provider, RedactingProvider)

    @property
    def default_model(self) -> str:
        return self.resolve(DEFAULT_ALIAS)[1]

    def breaker_state(self, provider: str) -> str:
        return self._breaker(provider).state

    async def close(self) -> None:
        for provider in self._providers:
            await provider.close()
        for remote in self._remote.values():
            await remote.close()
