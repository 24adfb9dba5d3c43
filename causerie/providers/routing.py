"""Failover between targets: circuit breakers, 429 Retry-After, and routes that look like providers.

A ``Route`` serves a model name through an ordered list of ``(provider, model)`` targets. It is a
``Provider`` itself, so the chat service needs no knowledge of failover: ``open`` tries each
target in turn until one sends its first token. Once a reply streams, it is never replayed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from causerie.errors import (
    CauserieError,
    ModelNotFoundError,
    OverloadedError,
    PrivacyBlockedError,
    ProviderUnavailableError,
    RateLimitedError,
)
from causerie.providers.base import Completion, Provider
from causerie.types import Message, ModelInfo, SamplingParams, TurnContext

log = logging.getLogger(__name__)


@dataclass
class Breaker:
    """Opens after ``failures`` consecutive failures; lets one trial through after ``cooldown``."""

    failures: int = 3
    cooldown: float = 30.0
    clock: Callable[[], float] = time.monotonic
    _count: int = 0
    _open_until: float = 0.0
    _hold_until: float = field(default=0.0)

    def allows(self) -> bool:
        now = self.clock()
        return now >= self._open_until and now >= self._hold_until

    def wait(self) -> float:
        """Seconds until this breaker lets a request through again."""
        return max(0.0, self._open_until - self.clock(), self._hold_until - self.clock())

    def success(self) -> None:
        self._count = 0
        self._open_until = 0.0

    def failure(self) -> None:
        self._count += 1
        if self._count >= self.failures:
            self._open_until = self.clock() + self.cooldown
            self._count = self.failures - 1  # after the cool-down, one failure re-opens it

    def hold(self, seconds: float) -> None:
        """Rate-limited for a while (an upstream 429): skip it, but it is not broken."""
        self._hold_until = max(self._hold_until, self.clock() + seconds)

    @property
    def state(self) -> str:
        if self.clock() < self._open_until:
            return "open"
        return "held" if self.clock() < self._hold_until else "closed"


@dataclass(frozen=True)
class Target:
    provider: Provider
    model: str
    breaker: Breaker

    @property
    def label(self) -> str:
        return f"{self.provider.name}/{self.model}"


@dataclass(frozen=True)
class RetryPolicy:
    max_retry_wait: float = 5.0
    retries: int = 2


class Route:
    """A model name served by targets in order, with failover before the first token."""

    def __init__(
        self, name: str, model_id: str, targets: Sequence[Target], retry: RetryPolicy
    ) -> None:
        self.name = f"route:{name}"
        self.model_id = model_id
        self.targets = list(targets)
        self._retry = retry

    def models(self) -> list[ModelInfo]:
        windows = [
            info.context_window
            for t in self.targets
            for info in t.provider.models()
            if info.id == t.model and info.context_window
        ]
        return [ModelInfo(id=self.model_id, context_window=min(windows, default=8192))]

    def count_tokens(self, model: str, messages: Sequence[Message]) -> int:
        first = self.targets[0]
        return first.provider.count_tokens(first.model, messages)

    async def open(
        self,
        model: str,
        messages: Sequence[Message],
        params: SamplingParams,
        context: TurnContext,
    ) -> Completion:
        errors: list[tuple[Target, CauserieError]] = []
        held: list[Target] = []
        for target in self.targets:
            if not target.breaker.allows():
                log.info("skipping %s: %s", target.label, target.breaker.state)
                if target.breaker.state == "held":
                    held.append(target)  # a last resort, once its Retry-After has passed
                else:
                    errors.append((target, self._skipped(target)))
                continue
            completion = await self._try(target, messages, params, context, errors)
            if completion is not None:
                return completion
        for target in held:
            # Every other target failed: wait out a short hold rather than fail the request.
            wait = target.breaker.wait()
            if wait > self._retry.max_retry_wait:
                errors.append((target, self._skipped(target)))
                continue
            await asyncio.sleep(wait)
            completion = await self._try(target, messages, params, context, errors)
            if completion is not None:
                return completion
        raise self._failure(errors)

    @staticmethod
    def _skipped(target: Target) -> ProviderUnavailableError:
        reason = "(rate-limited)." if target.breaker.state == "held" else "after failing."
        return ProviderUnavailableError(
            f"`{target.label}` is skipped for {target.breaker.wait():.0f} s {reason}"
        )

    async def _try(
        self,
        target: Target,
        messages: Sequence[Message],
        params: SamplingParams,
        context: TurnContext,
        errors: list[tuple[Target, CauserieError]],
    ) -> Completion | None:
        """Open ``target``; on a failure before the first token, record it and return None."""
        try:
            completion = await self._open_target(target, messages, params, context)
        except (
            ProviderUnavailableError,
            OverloadedError,
            ModelNotFoundError,
            PrivacyBlockedError,
        ) as exc:
            errors.append((target, exc))
            if len(self.targets) > 1:
                log.warning(
                    "target %s failed before its first token (%s); next", target.label, exc.message
                )
            return None
        if errors:
            log.info("%s served by %s after %d failed", self.model_id, target.label, len(errors))
        return completion

    async def _open_target(
        self,
        target: Target,
        messages: Sequence[Message],
        params: SamplingParams,
        context: TurnContext,
    ) -> Completion:
        retries = 0
        while True:
            try:
                completion = await target.provider.open(target.model, messages, params, context)
            except (RateLimitedError, OverloadedError) as exc:  # an upstream 429, a full engine
                wait = exc.retry_after
                if (
                    wait is not None
                    and wait <= self._retry.max_retry_wait
                    and retries < self._retry.retries
                ):
                    retries += 1
                    log.info("%s rate-limited; retrying in %.1f s", target.label, wait)
                    await asyncio.sleep(wait)
                    continue
                if wait:
                    target.breaker.hold(wait)
                raise
            except ProviderUnavailableError:
                target.breaker.failure()
                raise
            target.breaker.success()
            return completion

    def _failure(self, errors: list[tuple[Target, CauserieError]]) -> CauserieError:
        if len(errors) == 1:
            return errors[0][1]
        blocked = [exc for _, exc in errors if isinstance(exc, PrivacyBlockedError)]
        if len(blocked) == len(errors):
            return blocked[0]
        reasons = "; ".join(f"{target.label}: {exc.message}" for target, exc in errors)
        waits = [
            exc.retry_after
            for _, exc in errors
            if isinstance(exc, RateLimitedError | OverloadedError)
        ]
        message = f"No upstream could serve `{self.model_id}`. {reasons}"
        if len(waits) == len(errors) and all(w is not None for w in waits):
            return RateLimitedError(message, retry_after=min(w for w in waits if w is not None))
        return ProviderUnavailableError(message)

    async def close(self) -> None:
        """Routes own no provider; the registry closes them."""
