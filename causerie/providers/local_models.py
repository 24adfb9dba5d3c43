"""Every GGUF of the models directory, served within a memory budget.

The default model (``CAUSERIE_MODEL``, else the bundled one) loads at start and stays. Any other
``.gguf`` in ``models_dir`` is listed from the start and loads on its first request, with an
engine of its own (a process, as the default's). Before a model loads, its memory is estimated
(``engine/footprint.py``); when the budget (``CAUSERIE_MODELS_MEMORY_MB``) has no room for it,
the least recently used idle model is unloaded, then the next, and if the models still in use
leave no room, the request waits for one to finish. A model idle for ``CAUSERIE_MODEL_KEEP_ALIVE``
seconds is unloaded. Requests for a model that is loading wait for it; every wait is bounded by
``CAUSERIE_MODEL_LOAD_TIMEOUT`` (then 503 with Retry-After).

``/metrics`` shows the loaded models, their memory, loads, unloads and waiting requests
(``ModelPoolMetrics``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from anyio import to_thread
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)

from causerie.config import Settings
from causerie.engine.client import EngineProcess
from causerie.engine.footprint import estimate, machine_memory, mib, process_rss
from causerie.engine.model import LoadedModel
from causerie.engine.templates import ChatTemplate, resolve_template
from causerie.errors import EngineUnavailableError, ModelMemoryError, ModelNotFoundError
from causerie.providers.local import LocalCompletion, LocalProvider, text_tokens
from causerie.types import Delta, Message, ModelInfo, Redactions, SamplingParams, TurnContext

log = logging.getLogger(__name__)

ROOM_ERROR_GRACE = 0.5  # seconds
Loader = Callable[[Path], LocalProvider]  # blocking: starts an engine on a GGUF


@dataclass
class Resident:
    """A loaded model: its provider, the memory it holds, and who uses it."""

    provider: LocalProvider
    memory: int
    pinned: bool = False
    active: int = 0  # completions open on it
    last_used: float = field(default_factory=time.monotonic)


class ModelPoolMetrics:
    """The pool's Prometheus families, read from the pool when scraped."""

    def __init__(self, pool: LocalModels) -> None:
        self._pool = pool
        self.loads: dict[str, int] = {}
        self.unloads: dict[tuple[str, str], int] = {}
        self.load_seconds: list[float] = []
        self.waiting = 0

    def collect(self) -> Iterator[Metric]:
        pool = self._pool
        yield GaugeMetricFamily(
            "causerie_local_models_loaded", "Local models loaded now", len(pool.resident)
        )
        memory = GaugeMetricFamily(
            "causerie_local_model_memory_bytes",
            "Memory a loaded local model holds (measured, else estimated)",
            labels=["model"],
        )
        for name, resident in pool.resident.items():
            memory.add_metric([name], resident.memory)
        yield memory
        yield GaugeMetricFamily(
            "causerie_local_models_memory_budget_bytes",
            "Memory the local models may use together",
            pool.budget,
        )
        loads = CounterMetricFamily(
            "causerie_local_model_loads", "Local model loads", labels=["model"]
        )
        for name, count in self.loads.items():
            loads.add_metric([name], count)
        yield loads
        unloads = CounterMetricFamily(
            "causerie_local_model_unloads",
            "Local model unloads, by reason (budget, idle)",
            labels=["model", "reason"],
        )
        for (name, reason), count in self.unloads.items():
            unloads.add_metric([name, reason], count)
        yield unloads
        yield SummaryMetricFamily(
            "causerie_local_model_load_seconds",
            "Time to load a local model",
            count_value=len(self.load_seconds),
            sum_value=sum(self.load_seconds),
        )
        yield GaugeMetricFamily(
            "causerie_local_model_waiting",
            "Requests waiting for a local model to load, or for room to load it",
            self.waiting,
        )


class PooledCompletion:
    """A local completion that gives its model back when it ends (its last delta, an error,
    or ``cancel``)."""

    def __init__(self, inner: LocalCompletion, release: Callable[[], None]) -> None:
        self._inner = inner
        self._release: Callable[[], None] | None = release
        self.prompt_tokens = inner.prompt_tokens

    @property
    def served_by(self) -> str | None:
        return self._inner.served_by

    @property
    def redactions(self) -> Redactions | None:
        return self._inner.redactions

    @property
    def upstream_wait(self) -> float | None:
        return self._inner.upstream_wait

    def __aiter__(self) -> AsyncIterator[Delta]:
        return self._deltas()

    async def _deltas(self) -> AsyncIterator[Delta]:
        try:
            async for delta in self._inner:
                yield delta
        finally:
            self.done()

    def cancel(self) -> None:
        self._inner.cancel()
        self.done()

    def done(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()


class LocalModels:
    """The local provider: the default model and every other GGUF of ``models_dir``."""

    name = "local"

    def __init__(
        self,
        default: LocalProvider,
        settings: Settings,
        registry: CollectorRegistry | None = None,
        loader: Loader | None = None,
    ) -> None:
        self.default = default
        self._dir = settings.resolved_models_dir()
        self._context = settings.context_size
        self._cells = settings.context_size * default.engine.config.parallel
        self._keep_alive = settings.model_keep_alive
        self._timeout = settings.model_load_timeout
        budget_mb = settings.models_memory_mb
        self.budget = budget_mb * 2**20 if budget_mb else machine_memory() // 2
        self._loader: Loader = loader or (lambda path: LocalProvider.load(path, settings))
        self.resident: dict[str, Resident] = {
            default.model.id: Resident(default, self._measure(default), pinned=True)
        }
        self._loading: dict[str, asyncio.Task[None]] = {}
        self._reserved: dict[str, int] = {}  # memory promised to models being loaded
        self._changed: asyncio.Event | None = None  # a model was released or unloaded
        self._reaper: asyncio.Task[None] | None = None
        self._listing: tuple[float, list[ModelInfo]] | None = None
        self._tokenizer: tuple[LoadedModel, ChatTemplate] | None = None  # of an unloaded model
        self._tokenizer_lock = threading.Lock()
        self.metrics = ModelPoolMetrics(self)
        if registry is not None:
            registry.register(self.metrics)

    # -- what is served ---------------------------------------------------------------------------

    def models(self) -> list[ModelInfo]:
        """The default model first, then every other ``.gguf`` of the models directory."""
        return [*self.default.models(), *self._files()]

    def _files(self) -> list[ModelInfo]:
        try:
            stamp = self._dir.stat().st_mtime
        except OSError:
            return []
        if self._listing is None or self._listing[0] != stamp:
            found = [
                ModelInfo(
                    id=path.name.removesuffix(".gguf"),
                    owned_by="causerie",
                    context_window=self._context,
                    created=int(path.stat().st_mtime),
                )
                for path in sorted(self._dir.glob("*.gguf"))
                if path.name.removesuffix(".gguf") != self.default.model.id
            ]
            self._listing = (stamp, found)
        return self._listing[1]

    def path_of(self, model: str) -> Path:
        """The GGUF a model id names (ModelNotFoundError if it is not one of ours)."""
        if model == self.default.model.id:
            return self.default.model.path
        if any(info.id == model for info in self._files()):
            return self._dir / f"{model}.gguf"
        raise ModelNotFoundError(f"The model `{model}` does not exist.", param="model")

    def loaded(self, model: str) -> LocalProvider | None:
        resident = self.resident.get(model)
        return resident.provider if resident is not None else None

    def count_tokens(self, model: str, messages: Sequence[Message]) -> int:
        provider = self.loaded(model)
        if provider is not None:
            return provider.count_tokens(model, messages)
        # Not loaded: its tokenizer alone (no weights), kept for the calls that follow (fitting
        # a chat's history counts many times, and the turn loads the model just after).
        with self._tokenizer_lock:
            if self._tokenizer is None or self._tokenizer[0].id != model:
                self._drop_tokenizer()
                vocab = LoadedModel(
                    self.path_of(model), context_size=self._context, vocab_only=True
                )
                template = resolve_template(vocab.metadata, bos=vocab.bos_text, eos=vocab.eos_text)
                self._tokenizer = (vocab, template)
            vocab, template = self._tokenizer
            return len(text_tokens(vocab, template.prompt(messages)))

    def _drop_tokenizer(self) -> None:
        if self._tokenizer is not None:
            self._tokenizer[0].close()
            self._tokenizer = None

    # -- a turn ---------------------------------------------------------------------------------

    async def open(
        self,
        model: str,
        messages: Sequence[Message],
        params: SamplingParams,
        context: TurnContext,
    ) -> PooledCompletion:
        resident = await self._acquire(model)
        try:
            inner = await resident.provider.open(model, messages, params, context)
        except BaseException:
            self._release(model, resident)
            raise
        return PooledCompletion(inner, lambda: self._release(model, resident))

    async def _acquire(self, model: str) -> Resident:
        """The model, loaded (waiting for it to load, within the timeout), marked in use."""
        self.path_of(model)  # an unknown name is a 404 before anything waits
        deadline = time.monotonic() + self._timeout
        while (resident := self.resident.get(model)) is None:
            task = self._loading.get(model)
            if task is None:
                task = asyncio.get_running_loop().create_task(self._load(model, deadline))
                self._loading[model] = task
                task.add_done_callback(self._loaded_or_failed(model))
            self.metrics.waiting += 1
            try:
                # A little past the deadline: a load that waited for room in vain says so first.
                remaining = deadline - time.monotonic() + ROOM_ERROR_GRACE
                await asyncio.wait_for(asyncio.shield(task), max(0.0, remaining))
            except TimeoutError:
                raise EngineUnavailableError(
                    f"The model `{model}` is still loading. Retry in a few seconds.",
                    retry_after=5,
                ) from None
            finally:
                self.metrics.waiting -= 1
        resident.active += 1
        resident.last_used = time.monotonic()
        return resident

    def _loaded_or_failed(self, model: str) -> Callable[[asyncio.Task[None]], None]:
        def forget(task: asyncio.Task[None]) -> None:
            self._loading.pop(model, None)
            if not task.cancelled():
                task.exception()  # its waiters got it; none left is no error to log

        return forget

    def _release(self, model: str, resident: Resident) -> None:
        resident.active -= 1
        resident.last_used = time.monotonic()
        self._signal()
        if self._keep_alive == 0 and resident.active == 0 and not resident.pinned:
            asyncio.get_running_loop().create_task(self._unload(model, "idle"))

    # -- loading and unloading --------------------------------------------------------------------

    async def _load(self, model: str, deadline: float) -> None:
        path = self.path_of(model)
        started = time.monotonic()
        vocab = await to_thread.run_sync(
            lambda: LoadedModel(path, context_size=self._context, vocab_only=True)
        )
        try:
            need = estimate(path, vocab.metadata, self._cells)
        finally:
            vocab.close()
        await self._make_room(model, need, deadline)
        self._reserved[model] = need
        try:
            provider = await to_thread.run_sync(self._loader, path)
        finally:
            self._reserved.pop(model, None)
        attach = getattr(provider.engine, "attach", None)
        if attach is not None:
            attach(asyncio.get_running_loop())
        memory = max(need, self._measure(provider))
        self.resident[model] = Resident(provider, memory)
        self.metrics.loads[model] = self.metrics.loads.get(model, 0) + 1
        self.metrics.load_seconds.append(time.monotonic() - started)
        log.info("loaded %s (%s) in %.1f s", model, mib(memory), time.monotonic() - started)
        self._start_reaper()

    async def _make_room(self, model: str, need: int, deadline: float) -> None:
        """Unload idle models, least recently used first, until ``need`` fits the budget; wait
        for busy ones to finish when that is not enough."""
        pinned = sum(r.memory for r in self.resident.values() if r.pinned)
        if need + pinned > self.budget:
            raise ModelMemoryError(
                f"The model `{model}` needs about {mib(need)}; the local models' memory budget "
                f"is {mib(self.budget)} (CAUSERIE_MODELS_MEMORY_MB), {mib(pinned)} of it held by "
                f"the default model."
            )
        while self._used() + need > self.budget:
            idle = [
                (r.last_used, name)
                for name, r in self.resident.items()
                if not r.pinned and r.active == 0
            ]
            if idle:
                await self._unload(min(idle)[1], "budget")
                continue
            changed = self._changed_event()
            changed.clear()
            try:
                await asyncio.wait_for(changed.wait(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise EngineUnavailableError(
                    f"No room to load `{model}`: the other local models are busy. Retry later.",
                    retry_after=10,
                ) from None

    def _used(self) -> int:
        return sum(r.memory for r in self.resident.values()) + sum(self._reserved.values())

    async def _unload(self, model: str, reason: str) -> None:
        resident = self.resident.get(model)
        if resident is None or resident.pinned or resident.active:
            return
        del self.resident[model]
        key = (model, reason)  # counted once decided: whoever sees it gone sees it counted
        self.metrics.unloads[key] = self.metrics.unloads.get(key, 0) + 1
        await resident.provider.unload()
        log.info("unloaded %s (%s)", model, reason)
        self._signal()

    def _measure(self, provider: LocalProvider) -> int:
        """The engine process's resident memory; the estimate for an in-process engine."""
        pid = provider.engine.state().pid
        if isinstance(provider.engine, EngineProcess) and pid is not None:
            measured = process_rss(pid)
            if measured is not None:
                return measured
        model = provider.model
        return estimate(model.path, model.metadata, self._cells)

    def _changed_event(self) -> asyncio.Event:
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def _signal(self) -> None:
        if self._changed is not None:
            self._changed.set()

    def _start_reaper(self) -> None:
        if self._keep_alive > 0 and (self._reaper is None or self._reaper.done()):
            self._reaper = asyncio.get_running_loop().create_task(self._reap_idle())

    async def _reap_idle(self) -> None:
        """Unload models idle for longer than the keep-alive, until only the default is left."""
        tick = min(max(self._keep_alive / 4, 0.1), 5.0)
        while any(not r.pinned for r in self.resident.values()):
            await asyncio.sleep(tick)
            now = time.monotonic()
            for name, resident in list(self.resident.items()):
                idle = not resident.pinned and resident.active == 0
                if idle and now - resident.last_used >= self._keep_alive:
                    await self._unload(name, "idle")

    async def close(self) -> None:
        with self._tokenizer_lock:
            self._drop_tokenizer()
        if self._reaper is not None:
            self._reaper.cancel()
        for task in list(self._loading.values()):
            task.cancel()
        for name, resident in list(self.resident.items()):
            if not resident.pinned:
                del self.resident[name]
                await resident.provider.unload()
        await self.default.close()
