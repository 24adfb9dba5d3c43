"""Runs generations on the model, one at a time, on a dedicated thread.

Every call into llama.cpp happens on that thread; callers get a ``Generation`` they iterate from
asyncio. (Continuous batching over many sequences replaces this serial runner later.)
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import queue
import random
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from causerie.engine.model import LoadedModel
from causerie.engine.stops import StopMatcher
from causerie.errors import EngineError
from causerie.types import Delta, FinishReason, SamplingParams, Usage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerationRequest:
    prompt: Sequence[int]
    params: SamplingParams
    max_tokens: int
    stop: tuple[str, ...]


class Generation:
    """One request's stream of deltas; the last one has ``finish_reason`` and ``usage``."""

    def __init__(self, request: GenerationRequest, loop: asyncio.AbstractEventLoop) -> None:
        self.request = request
        self._loop = loop
        self._deltas: asyncio.Queue[Delta | BaseException] = asyncio.Queue()
        self._cancelled = threading.Event()
        self._finished = False

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Stop generating; the engine notices before its next token."""
        self._cancelled.set()

    def push(self, item: Delta | BaseException) -> None:
        """Called from the engine thread."""
        self._loop.call_soon_threadsafe(self._deltas.put_nowait, item)

    async def __aiter__(self) -> AsyncIterator[Delta]:
        while not self._finished:
            item = await self._deltas.get()
            if isinstance(item, BaseException):
                self._finished = True
                raise item
            if item.finish_reason is not None:
                self._finished = True
            yield item


class Generator:
    """Owns the model's thread. ``submit`` queues a request and returns its ``Generation``."""

    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self._jobs: queue.Queue[Generation | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="causerie-engine", daemon=True)
        self._thread.start()

    def submit(self, request: GenerationRequest) -> Generation:
        generation = Generation(request, asyncio.get_running_loop())
        self._jobs.put(generation)
        return generation

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while (generation := self._jobs.get()) is not None:
            if generation.cancelled:
                continue
            try:
                self._generate(generation)
            except Exception as exc:  # llama.cpp failed: report it to this request only
                log.exception("generation failed")
                generation.push(EngineError(f"the model failed while generating: {exc}"))

    def _generate(self, generation: Generation) -> None:
        request, params, model = generation.request, generation.request.params, self.model
        llama = model.llama
        llama.set_seed(params.seed if params.seed is not None else random.getrandbits(32))
        # Evaluate the whole prompt every time: logits of a reused prefix differ in the last
        # bits from a full evaluation, which would break "same seed, same text". (Prefix reuse
        # comes back with the batching engine, where it is verified per sequence.)
        llama.reset()
        cached = 0
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stops = StopMatcher(request.stop)
        produced = 0
        finish: FinishReason = "length"
        started = False
        tokens = llama.generate(
            list(request.prompt),
            top_k=params.top_k,
            top_p=params.top_p,
            min_p=params.min_p,
            temp=params.temperature,
            repeat_penalty=params.repeat_penalty,
            frequency_penalty=params.frequency_penalty,
            presence_penalty=params.presence_penalty,
            reset=True,
        )
        stopped = False
        held = ""  # trailing whitespace waits until text follows it: replies are trimmed
        for token in tokens:
            if generation.cancelled:
                tokens.close()
                return
            if model.is_end_of_generation(token):
                finish = "stop"
                break
            produced += 1
            text, stopped = stops.feed(decoder.decode(model.piece(token)))
            text = held + text
            if not started:  # a reply starts at its first visible character
                text = text.lstrip()
                started = bool(text)
            body = text.rstrip()
            held = text[len(body) :]
            if body:
                generation.push(Delta(body))
            if stopped:
                finish = "stop"
                break
            if produced >= request.max_tokens:
                break
        tokens.close()
        tail = "" if stopped else stops.flush() + decoder.decode(b"", final=True)
        tail = (held + tail).rstrip() if started else tail.strip()
        usage = Usage(len(request.prompt), produced, cached)
        generation.push(Delta(tail, finish_reason=finish, usage=usage))
