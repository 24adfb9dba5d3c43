"""The server's side of the engine process: submit, cancel, metrics, and supervision.

``EngineProcess`` offers what the in-process ``Scheduler`` offers (``submit``, ``close``,
``registry``, ``state``) with the scheduler running in a child process (``engine/process.py``).
The server admits requests itself (the same bound as the scheduler's, so a full engine is a 429
at once). When the child dies, every request it held ends with ``EngineUnavailableError`` (503;
a stream gets an error event), a log line names them, ``/ready`` answers 503, and the child is
started again after a back-off that doubles with each crash in a row (1 s to 30 s).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import CounterMetricFamily, Metric

from causerie.engine.requests import EngineState, Generation, GenerationRequest
from causerie.engine.scheduler import EngineConfig
from causerie.errors import (
    ConfigurationError,
    EngineError,
    EngineUnavailableError,
    OverloadedError,
)
from causerie.types import Delta

log = logging.getLogger(__name__)

START_TIMEOUT = 300.0  # loading a large model from a slow disk
BACKOFF_MIN, BACKOFF_MAX = 1.0, 30.0
STABLE_AFTER = 60.0  # a child that lived this long resets the back-off


class RelayedMetrics:
    """A Prometheus collector: the engine process's last report, plus the rejections counted
    here (the server admits requests, so it is the one that refuses them)."""

    def __init__(self) -> None:
        self.families: list[Metric] = []
        self.rejected = 0

    def collect(self) -> Iterator[Metric]:
        for family in self.families:
            if family.name != "causerie_rejected_requests":
                yield family
        rejected = CounterMetricFamily(
            "causerie_rejected_requests", "Requests refused because the queue was full"
        )
        rejected.add_metric([], self.rejected)
        yield rejected


class EngineProcess:
    """The scheduler in a supervised child process."""

    def __init__(self, model_path: Path, context_size: int, config: EngineConfig) -> None:
        self.config = config
        self._target = (str(model_path), context_size, config)
        self.metrics = RelayedMetrics()
        self.registry = CollectorRegistry()
        self.registry.register(self.metrics)
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._pending: dict[int, Generation] = {}
        self._callers: dict[int, str] = {}  # for the log line when the engine dies
        self._ids = itertools.count()
        self._running = False
        self._closing = False
        self._restarts = 0
        self._crashes_in_a_row = 0
        self._pid: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._connection: Connection | None = None
        self._started = threading.Event()
        self._start()
        if not self._started.wait(START_TIMEOUT) or not self._running:
            self.close()
            raise ConfigurationError("the engine process did not start (see the log above)")

    # -- the server's side ----------------------------------------------------------------------

    def submit(self, request: GenerationRequest, caller: str) -> Generation:
        """Send a request to the engine. ``OverloadedError`` at once when it is full;
        ``EngineUnavailableError`` while the engine restarts."""
        with self._lock:
            if not self._running:
                raise EngineUnavailableError(
                    "The local model's engine is restarting. Retry in a few seconds.",
                    retry_after=self._backoff(),
                )
            limit = self.config.parallel + self.config.max_waiting
            if len(self._pending) >= limit:
                self.metrics.rejected += 1
                waiting = max(0, len(self._pending) - self.config.parallel)
                retry_after = float(max(1, math.ceil((waiting + 1) / self.config.parallel)))
                raise OverloadedError(
                    f"The server is busy: every sequence is in use and {waiting} requests are "
                    f"waiting. Retry in {retry_after:.0f} s.",
                    retry_after=retry_after,
                )
            rid = next(self._ids)
            generation = Generation(
                request, asyncio.get_running_loop(), on_cancel=lambda: self._send(("cancel", rid))
            )
            self._pending[rid] = generation
            self._callers[rid] = caller
        self._send(("submit", rid, request, caller))
        return generation

    def state(self) -> EngineState:
        return EngineState(running=self._running, pid=self._pid, restarts=self._restarts)

    def close(self) -> None:
        self._closing = True
        self._send(("close",))
        if self._process is not None:
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=5)
        if self._connection is not None:
            self._connection.close()

    def _send(self, message: tuple[Any, ...]) -> None:
        with self._send_lock:
            try:
                if self._connection is not None:
                    self._connection.send(message)
            except (OSError, ValueError):
                pass  # the engine died: the reader thread reports it

    def _backoff(self) -> float:
        return float(min(BACKOFF_MAX, BACKOFF_MIN * 2 ** max(0, self._crashes_in_a_row - 1)))

    # -- the child ------------------------------------------------------------------------------

    def _start(self) -> None:
        """A new child: ``python -m causerie.engine.process`` with one end of a socket pair
        (not ``multiprocessing``'s spawn, which re-runs the server's main module)."""
        if self._closing:
            return
        ours, theirs = socket.socketpair()
        process = subprocess.Popen(
            [sys.executable, "-P", "-m", "causerie.engine.process", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        connection = Connection(ours.detach())
        connection.send(("init", *self._target))
        self._process, self._connection = process, connection
        self._born = time.monotonic()
        threading.Thread(
            target=self._read, args=(connection, process), name="engine-reader", daemon=True
        ).start()

    def _read(self, connection: Connection, process: subprocess.Popen[bytes]) -> None:
        """Dispatch the engine's messages until its pipe closes, then handle the death."""
        while True:
            try:
                batch = connection.recv()
            except (EOFError, OSError):
                break
            for message in batch:
                self._dispatch(message)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        self._running = False
        self._started.set()  # a child that died while starting: the constructor stops waiting
        if not self._closing:
            self._crashed(process.returncode)

    def _dispatch(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "delta":
            found = self._pending.get(message[1])
            if found is not None:
                delta: Delta = message[2]
                found.push(delta)
        elif kind == "error":
            found = self._pending.get(message[1])
            if found is not None:
                found.push(EngineError(message[2]))
        elif kind == "done":
            with self._lock:
                self._pending.pop(message[1], None)
                self._callers.pop(message[1], None)
        elif kind == "metrics":
            self.metrics.families = message[1]
        elif kind == "started":
            self._pid = message[1]
            self._running = True
            self._started.set()

    def _crashed(self, exitcode: int | None) -> None:
        how = describe_exit(exitcode)
        with self._lock:
            victims, self._pending = self._pending, {}
            callers, self._callers = self._callers, {}
        lived = time.monotonic() - self._born
        self._crashes_in_a_row = 1 if lived >= STABLE_AFTER else self._crashes_in_a_row + 1
        delay = self._backoff()
        running = "; ".join(
            f"request {rid} from {callers.get(rid, '?')} ({len(g.request.prompt)} prompt "
            f"tokens{', with a grammar' if g.request.grammar else ''})"
            for rid, g in victims.items()
        )
        log.error(
            "the engine process %s; it held %d request(s)%s; restarting in %.0f s",
            how,
            len(victims),
            f": {running}" if running else "",
            delay,
        )
        error = f"The local model's engine stopped ({how}) and is restarting; this reply is lost."
        for generation in victims.values():
            generation.push(EngineUnavailableError(error, retry_after=delay))
        self._restarts += 1
        timer = threading.Timer(delay, self._start)
        timer.daemon = True
        timer.start()


def describe_exit(exitcode: int | None) -> str:
    """``died by SIGABRT`` / ``exited with status 1`` / ``vanished``."""
    if exitcode is None:
        return "vanished"
    if exitcode < 0:
        try:
            return f"died by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"died by signal {-exitcode}"
    return f"exited with status {exitcode}"
