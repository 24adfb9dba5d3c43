"""The engine's own process: the scheduler runs here, so native code that aborts (a llama.cpp
assertion, a C++ exception on the engine thread) takes down this process only.

``python -m causerie.engine.process FD`` is the child (``engine/client.py`` starts it): FD is
its end of a socket pair, spoken over as a ``multiprocessing`` connection. It loads the model,
starts the ``Scheduler`` as in the server, and speaks a small protocol:

- from the server: first ``("init", model_path, context_size, EngineConfig)``, then
  ``("submit", id, GenerationRequest, caller)``, ``("cancel", id)``, ``("close",)``;
- to the server, in lists (one ``send`` per engine step, from the engine thread itself):
  ``("started", pid)``, ``("delta", id, Delta)``, ``("error", id, message)``, ``("done", id)``
  when a request left the engine, and ``("metrics", families)``: the engine's Prometheus
  families, after a step at most every ``METRICS_INTERVAL`` and whenever the engine goes idle.

The engine thread is the only one that reads the socket: between two steps it takes what came,
and when it has nothing to do it sleeps on the socket. So a request that arrives while the model
works wakes no thread (with two cores both busy with the model's threads, every wake-up waits).

When the server's end of the pipe closes (the server died), the engine stops.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from causerie.engine.metrics import EngineMetrics
from causerie.engine.model import LoadedModel
from causerie.engine.requests import Endings, GenerationRequest
from causerie.engine.scheduler import EngineConfig, Scheduler
from causerie.errors import OverloadedError
from causerie.types import Delta

log = logging.getLogger(__name__)

METRICS_INTERVAL = 0.25  # seconds between metric reports while the engine works


class Outbox:
    """Messages for the server, sent together by the engine thread after each step (and once
    by the main thread, when the engine has started)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._pending: list[tuple[Any, ...]] = []
        self._lock = threading.Lock()

    def put(self, message: tuple[Any, ...]) -> None:
        with self._lock:
            self._pending.append(message)

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                self._connection.send(batch)
            except (OSError, ValueError):
                pass  # the server is gone; the engine sees the pipe close and stops


class RelayedGeneration:
    """A request as the engine process holds it: what it produces goes to the outbox."""

    def __init__(self, rid: int, request: GenerationRequest, outbox: Outbox) -> None:
        self.rid = rid
        self.request = request
        self.submitted_at = time.monotonic()
        self._outbox = outbox
        self._cancelled = threading.Event()
        self._endings = Endings(request.params.n)
        self._ended = False  # its last delta or its error was sent
        self._left = False  # the engine forgot it; "done" waits for the last delta

    def leave(self) -> None:
        """The engine is done with it: say so once its last delta is out (the scheduler frees
        the sequence just before pushing the last delta)."""
        if self._ended or self.cancelled:
            self._outbox.put(("done", self.rid))
        else:
            self._left = True

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        self._cancelled.set()

    def push(self, item: Delta | BaseException) -> None:
        if isinstance(item, BaseException):
            self._outbox.put(("error", self.rid, str(item)))
        else:
            self._outbox.put(("delta", self.rid, item))
        if self._endings.ends(item):
            self._ended = True
            if self._left:
                self._outbox.put(("done", self.rid))


class ProcessScheduler(Scheduler):
    """The scheduler, reading the server's messages on its own thread, telling the server
    when a request leaves and how the metrics stand."""

    def __init__(
        self, model: LoadedModel, config: EngineConfig, connection: Connection, outbox: Outbox
    ) -> None:
        self.inbox = connection
        self.outbox = outbox
        self.generations: dict[int, RelayedGeneration] = {}
        self._reported = 0.0
        super().__init__(model, config, EngineMetrics())

    def wait_closed(self) -> None:
        """Until the server says ``close`` or goes away."""
        self._thread.join()

    def _take_messages(self) -> None:
        while not self._closed and self._poll(0):
            self._handle()

    def _wait_for_work(self) -> None:
        # Nobody else takes ``_wake`` in this process: sleeping on the socket with it held is
        # safe, and ``enqueue`` takes it again (a re-entrant lock).
        if self._poll(None):
            self._handle()

    def _poll(self, timeout: float | None) -> bool:
        try:
            return self.inbox.poll(timeout)
        except (EOFError, OSError):
            self._closed = True
            return False

    def _handle(self) -> None:
        try:
            message = self.inbox.recv()
        except (EOFError, OSError):  # the server died: nobody will read what we produce
            self._closed = True
            return
        kind = message[0]
        if kind == "submit":
            _, rid, request, caller = message
            generation = RelayedGeneration(rid, request, self.outbox)
            self.generations[rid] = generation
            try:
                self.enqueue(generation, caller)  # type: ignore[arg-type]
            except OverloadedError as exc:  # the server admits first; this is a last guard
                self.generations.pop(rid, None)
                self.outbox.put(("error", rid, exc.message))
                self.outbox.put(("done", rid))
                self.outbox.flush()
        elif kind == "cancel":
            found = self.generations.get(message[1])
            if found is not None:
                found.cancel()
        elif kind == "close":
            self._closed = True

    def _forget(self, generation: Any) -> None:
        super()._forget(generation)
        self.generations.pop(generation.rid, None)
        generation.leave()

    def _after_step(self) -> None:
        self.outbox.flush()  # the step's tokens first, then (maybe) the metrics
        now = time.monotonic()
        idle = all(slot.idle for slot in self._slots)
        if idle or now - self._reported >= METRICS_INTERVAL:
            self._reported = now
            self.report_metrics()
            self.outbox.flush()

    def report_metrics(self) -> None:
        self.outbox.put(("metrics", list(self.metrics.registry.collect())))


def run_engine(connection: Connection) -> None:
    """The engine process: load the model, serve requests until told to close or orphaned."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        _, model_path, context_size, config = connection.recv()
    except (EOFError, OSError):
        return
    outbox = Outbox(connection)
    model = LoadedModel(Path(model_path), context_size=context_size)
    scheduler = ProcessScheduler(model, config, connection, outbox)
    outbox.put(("started", os.getpid()))  # the server sends nothing before this
    scheduler.report_metrics()
    outbox.flush()
    try:
        scheduler.wait_closed()
    finally:
        scheduler.close()
        model.close()


if __name__ == "__main__":
    run_engine(Connection(int(sys.argv[1])))
