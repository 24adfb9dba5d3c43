"""The providers file: remote OpenAI-compatible upstreams, model aliases, routing and privacy.

A TOML file (``CAUSERIE_PROVIDERS_FILE``, default ``<data_dir>/providers.toml`` when it exists)
with environment overrides on top::

    [providers.openai]                 # the name is the table's key
    preset = "openai"                  # base_url, privacy class and key variable from the preset
    models = ["gpt-4o-mini"]
    embedding_models = ["text-embedding-3-small"]   # served by /v1/embeddings

    [aliases]
    default = ["openai/gpt-4o-mini", "local"]

Environment overrides: ``CAUSERIE_PROVIDER_<NAME>_<FIELD>`` (for example
``CAUSERIE_PROVIDER_OPENAI_BASE_URL``; lists comma-separated; a provider can be declared by the
environment alone) and ``CAUSERIE_ALIAS_<NAME>=target,target``. API keys are never in the file:
``api_key_env`` names the environment variable that holds the key.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from causerie.config import Settings
from causerie.errors import ConfigurationError

PrivacyClass = Literal["local", "trusted", "external"]
Policy = Literal["redact", "block", "allow"]

PRESETS: dict[str, dict[str, Any]] = {
    "vllm": {"base_url": "http://127.0.0.1:8000/v1", "privacy": "trusted", "extra_sampling": True},
    "llama-server": {
        "base_url": "http://127.0.0.1:8080/v1",
        "privacy": "local",
        "extra_sampling": True,
    },
    "ollama": {"base_url": "http://127.0.0.1:11434/v1", "privacy": "local"},
    "openai": {
        "base_url": "https://api.openai.com/v1",
        "privacy": "external",
        "api_key_env": "OPENAI_API_KEY",
        "max_tokens_field": "max_completion_tokens",
    },
    "xai": {"base_url": "https://api.x.ai/v1", "privacy": "external", "api_key_env": "XAI_API_KEY"},
    "mistral": {
        "base_url": "https://api.mistral.ai/v1",
        "privacy": "external",
        "api_key_env": "MISTRAL_API_KEY",
    },
    "groq": {
        "base_url": "https://api.groq.com/openai/v1",
        "privacy": "external",
        "api_key_env": "GROQ_API_KEY",
    },
    "openrouter": {
        "base_url": "https://openrouter.ai/api/v1",
        "privacy": "external",
        "api_key_env": "OPENROUTER_API_KEY",
    },
}


class Price(BaseModel):
    """US dollars per million tokens (kept for usage accounting)."""

    model_config = ConfigDict(extra="forbid")

    input: float = Field(0.0, ge=0)
    output: float = Field(0.0, ge=0)


class ProviderConfig(BaseModel):
    """One OpenAI-compatible upstream."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    preset: str | None = None
    base_url: str
    api_key_env: str | None = None
    models: list[str] | None = None  # None: discovered from the upstream's /v1/models
    # Served by /v1/embeddings as <provider>/<model>; never discovered, never chat models.
    embedding_models: list[str] = Field(default_factory=list)
    headers: dict[str, str] = Field(default_factory=dict)
    context_window: int = Field(8192, ge=256)
    connect_timeout: float = Field(5.0, gt=0)
    first_token_timeout: float = Field(60.0, gt=0)
    read_timeout: float = Field(60.0, gt=0)
    max_concurrency: int = Field(16, ge=1)
    price: Price = Field(default_factory=Price)
    privacy: PrivacyClass = "external"
    policy: Policy | None = None  # None: redact for external providers, allow for the others
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    extra_sampling: bool = False  # also send top_k, min_p, repeat_penalty (vLLM, llama-server)
    breaker_failures: int = Field(3, ge=1)
    breaker_cooldown: float = Field(30.0, ge=0)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value.rstrip("/")

    @property
    def effective_policy(self) -> Policy:
        if self.policy is not None:
            return self.policy
        return "redact" if self.privacy == "external" else "allow"

    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) if self.api_key_env else None


class RoutingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_retry_wait: float = Field(
        5.0, ge=0, description="A 429 whose Retry-After is at most this many seconds is retried."
    )
    retries: int = Field(2, ge=0, description="Retries of one target after short 429s.")


class PrivacyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    names: list[str] = Field(default_factory=list)


class ProvidersConfig(BaseModel):
    """The whole providers file, after presets and environment overrides."""

    model_config = ConfigDict(extra="forbid")

    providers: list[ProviderConfig] = Field(default_factory=list)
    aliases: dict[str, list[str]] = Field(default_factory=dict)
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    source: str | None = None  # the file it was read from, for messages


LIST_FIELDS = {"models", "embedding_models"}
# Longest first, so that a field's name is matched before a shorter one it ends with.
ENV_FIELDS = sorted(
    (set(ProviderConfig.model_fields) - {"name", "price", "headers"})
    | {"price_input", "price_output"},
    key=len,
    reverse=True,
)


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def environment_overrides(
    environ: Mapping[str, str],
) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """``CAUSERIE_PROVIDER_<NAME>_<FIELD>`` and ``CAUSERIE_ALIAS_<NAME>`` -> (providers, aliases).
    The field is matched at the end, so provider names may hold underscores."""
    providers: dict[str, dict[str, Any]] = {}
    aliases: dict[str, list[str]] = {}
    for key, value in environ.items():
        if key.startswith("CAUSERIE_ALIAS_"):
            aliases[key.removeprefix("CAUSERIE_ALIAS_").lower()] = _split(value)
            continue
        if not key.startswith("CAUSERIE_PROVIDER_"):
            continue
        rest = key.removeprefix("CAUSERIE_PROVIDER_")
        for field in ENV_FIELDS:
            suffix = f"_{field.upper()}"
            if rest.endswith(suffix) and len(rest) > len(suffix):
                name = rest.removesuffix(suffix).lower().replace("_", "-")
                entry = providers.setdefault(name, {})
                if field.startswith("price_"):
                    entry.setdefault("price", {})[field.removeprefix("price_")] = value
                else:
                    entry[field] = _split(value) if field in LIST_FIELDS else value
                break
    return providers, aliases


def _provider(name: str, raw: dict[str, Any]) -> dict[str, Any]:
    if "api_key" in raw:
        raise ConfigurationError(
            f"Provider `{name}`: API keys are not read from the providers file; put the key in "
            f"an environment variable and name it with api_key_env."
        )
    preset = raw.get("preset")
    if preset is not None and preset not in PRESETS:
        raise ConfigurationError(
            f"Provider `{name}`: unknown preset `{preset}` (known: {', '.join(sorted(PRESETS))})."
        )
    return {**PRESETS.get(preset or "", {}), **raw, "name": name}


def parse_providers(
    data: Mapping[str, Any], environ: Mapping[str, str], source: str | None = None
) -> ProvidersConfig:
    """The file's data with the environment's overrides on top, validated."""
    if not isinstance(data.get("providers", {}), dict):
        raise ConfigurationError("`providers` must be a table of tables: [providers.NAME].")
    table = dict(data.get("providers") or {})
    env_providers, env_aliases = environment_overrides(environ)
    names = {name.lower().replace("_", "-"): name for name in table}
    for env_name, fields in env_providers.items():
        name = names.get(env_name, env_name)
        merged = dict(table.get(name) or {})
        price = {**merged.get("price", {}), **fields.pop("price", {})}
        merged.update(fields)
        if price:
            merged["price"] = price
        table[name] = merged
    where = f"Invalid providers configuration{f' in {source}' if source else ''}"
    try:
        providers = [_provider(name, dict(raw)) for name, raw in table.items()]
    except ConfigurationError as exc:
        raise ConfigurationError(f"{where}: {exc.message}") from exc
    try:
        return ProvidersConfig(
            providers=providers,
            aliases={**(data.get("aliases") or {}), **env_aliases},
            routing=data.get("routing") or {},
            privacy=data.get("privacy") or {},
            source=source,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = list(first["loc"])
        if loc[:1] == ["providers"] and len(loc) > 1 and isinstance(loc[1], int):
            loc[1] = providers[loc[1]]["name"]  # name the provider, not its position
        field = ".".join(str(part) for part in loc)
        raise ConfigurationError(f"{where}: {field}: {first['msg']}") from exc


def providers_path(settings: Settings) -> Path | None:
    if settings.providers_file is not None:
        if not settings.providers_file.is_file():
            raise ConfigurationError(f"Providers file not found: {settings.providers_file}")
        return settings.providers_file
    default = settings.data_dir / "providers.toml"
    return default if default.is_file() else None


def load_providers(settings: Settings, environ: Mapping[str, str] | None = None) -> ProvidersConfig:
    """Read the providers file (if any) and apply the environment. Raises ConfigurationError."""
    path = providers_path(settings)
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"{path} is not valid TOML: {exc}") from exc
    return parse_providers(
        data, os.environ if environ is None else environ, str(path) if path else None
    )
