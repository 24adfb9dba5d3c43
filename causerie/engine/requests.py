"""A generation request and the asyncio-side handle its caller iterates."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from causerie.types import Delta, SamplingParams


@dataclass(frozen=True)
class EngineState:
    """Whether the engine takes requests, the process it runs in, how often it was restarted."""

    running: bool
    pid: int | None
    restarts: int


@dataclass(frozen=True)
class GenerationRequest:
    prompt: Sequence[int]
    params: SamplingParams
    max_tokens: int
    stop: tuple[str, ...]
    grammar: str | None = None  # GBNF the reply must match (root rule ``root``)
    # A chat's reply starts and ends with no blank; a text completion keeps every character
    # (the legacy completions: the prompt and its completion, joined, are the text).
    trim: bool = True


class Endings:
    """Counts the finished choices of a request's stream: it ends with the last one's final
    delta (or an error)."""

    def __init__(self, choices: int) -> None:
        self._left = choices

    def ends(self, item: Delta | BaseException) -> bool:
        """Whether ``item`` is the stream's last."""
        if isinstance(item, BaseException):
            self._left = 0
        elif item.finish_reason is not None:
            self._left -= 1
        return self._left <= 0


class Generation:
    """One request's stream of deltas (its choices' interleaved); each choice's last has its
    ``finish_reason``, the stream's last also the ``usage``.

    The engine thread ``push``es; the asyncio side iterates. ``cancel`` may come from either;
    ``on_cancel`` is told once (the engine process's client sends the cancel on).
    """

    def __init__(
        self,
        request: GenerationRequest,
        loop: asyncio.AbstractEventLoop,
        on_cancel: Callable[[], None] | None = None,
    ) -> None:
        self.request = request
        self.submitted_at = time.monotonic()
        self._loop = loop
        self._deltas: asyncio.Queue[Delta | BaseException] = asyncio.Queue()
        self._cancelled = threading.Event()
        self._finished = False
        self._on_cancel = on_cancel

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Stop generating; the engine frees the sequence at its next step."""
        if self._cancelled.is_set():
            return
        self._cancelled.set()
        if self._on_cancel is not None:
            self._on_cancel()

    def push(self, item: Delta | BaseException) -> None:
        """Called from the engine thread, or from the caller's loop itself (the engine
        process's socket is read there)."""
        try:
            on_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            self._deltas.put_nowait(item)
            return
        try:
            self._loop.call_soon_threadsafe(self._deltas.put_nowait, item)
        except RuntimeError:  # the caller's event loop is gone: nobody is listening
            self.cancel()

    async def __aiter__(self) -> AsyncIterator[Delta]:
        endings = Endings(self.request.params.n)
        while not self._finished:
            item = await self._deltas.get()
            self._finished = endings.ends(item)
            if isinstance(item, BaseException):
                raise item
            yield item
