"""What ``causerie providers list|check`` shows: the configured upstreams and their health."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from causerie.errors import CauserieError
from causerie.providers.config import ProviderConfig, ProvidersConfig
from causerie.providers.openai_compat import OpenAICompatProvider


@dataclass(frozen=True)
class Health:
    name: str
    reachable: bool
    detail: str
    models: tuple[str, ...] = ()


def describe(entry: ProviderConfig) -> list[tuple[str, str]]:
    """Rows of ``(field, value)`` for one provider; the API key's value is never shown."""
    if entry.api_key_env:
        key = f"${entry.api_key_env} ({'set' if entry.api_key() else 'NOT SET'})"
    else:
        key = "none"
    models = ", ".join(entry.models) if entry.models is not None else "(discovered from /models)"
    embeddings = (
        [("embedding", ", ".join(entry.embedding_models))] if entry.embedding_models else []
    )
    return [
        ("base_url", entry.base_url),
        ("preset", entry.preset or "-"),
        ("privacy", f"{entry.privacy}, policy {entry.effective_policy}"),
        ("api key", key),
        ("models", models),
        *embeddings,
        ("price", f"${entry.price.input:g} in / ${entry.price.output:g} out per 1M tokens"),
        (
            "limits",
            f"{entry.max_concurrency} concurrent, first token {entry.first_token_timeout:g} s",
        ),
    ]


async def check_one(entry: ProviderConfig) -> Health:
    provider = OpenAICompatProvider(entry)
    started = time.monotonic()
    try:
        models = await provider.probe()
    except CauserieError as exc:
        return Health(entry.name, False, exc.message)
    finally:
        await provider.close()
    elapsed = (time.monotonic() - started) * 1000
    missing = [m for m in [*(entry.models or []), *entry.embedding_models] if m not in models]
    detail = f"reachable in {elapsed:.0f} ms, {len(models)} model(s)"
    if missing:
        detail += f"; configured but not listed by the upstream: {', '.join(missing)}"
    return Health(entry.name, True, detail, tuple(models))


async def check_all(config: ProvidersConfig) -> list[Health]:
    return list(await asyncio.gather(*(check_one(entry) for entry in config.providers)))
