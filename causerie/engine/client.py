"""The server's side of the engine process: submit, cancel, metrics, and supervision.

``EngineProcess`` offers what the in-process ``Scheduler`` offers (``submit``, ``close``,
``registry``, ``state``) with the scheduler running in a child process (``engine/process.py``).
The server admits requests itself (the same bound as the scheduler's, so a full engine is a 429
at once). Once the server's event loop is known (``attach``), the loop reads the engine's socket
itself: a token reaches its stream with no thread to wake on the way (before that, and in
programs with no loop of their own, a reader thread does). When the child dies, every request
it held ends with ``EngineUnavailableError`` (503; a stream gets an error event), a log line
names them, ``/ready`` answers 503, and the child is started again after a back-off that
doubles with each crash in a row (1 s to 30 s).
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

from anyio import to_thread
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
HANDOVER_POLL = 0.05  # how often the reader thread looks whether the event loop took over


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
        """Start the child; it loads the model while the caller does other work until
        ``wait_started``."""
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
        self._loop: asyncio.AbstractEventLoop | None = None  # reads the socket once attached
        self._handover = threading.Event()  # the reader thread gives the socket to the loop
        self._born = time.monotonic()
        self._spawn()

    def wait_started(self) -> None:
        """Wait for the first child to load the model (ConfigurationError if it died first)."""
        if not self._started():
            self.close()
            raise ConfigurationError("the engine process did not start (see the log above)")

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Read the engine's socket on ``loop`` (the server's) from now on."""
        with self._lock:
            if self._loop is not None:
                return
            self._loop = loop
        self._handover.set()

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
        if self._connection is not None and not self._connection.closed:
            if self._loop is not None and _running_loop() is self._loop:
                self._loop.remove_reader(self._connection.fileno())
            self._connection.close()

    async def aclose(self) -> None:
        """``close`` from the event loop without blocking it: the child is told to stop and
        reaped on a worker thread; whoever reads its socket sees it close and lets it go."""
        self._closing = True
        self._send(("close",))
        process = self._process
        if process is not None:
            await to_thread.run_sync(_reap, process)

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

    def _start(self) -> bool:
        """A new child, once it has loaded the model; False if it died first."""
        if self._closing:
            return False
        self._spawn()
        return self._started()

    def _spawn(self) -> None:
        """A new child: ``python -m causerie.engine.process`` with one end of a socket pair
        (not ``multiprocessing``'s spawn, which re-runs the server's main module)."""
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

    def _started(self) -> bool:
        """Wait for the child's "started" (it has loaded the model) and read its socket from
        then on; False if it died first."""
        connection, process = self._connection, self._process
        assert connection is not None and process is not None
        try:
            if not connection.poll(START_TIMEOUT):
                raise EOFError("the engine process did not answer in time")
            self._receive(connection)  # "started", and the first metrics
        except (EOFError, OSError):
            _reap(process)
            return False
        loop = self._loop
        if loop is None:
            threading.Thread(
                target=self._read, args=(connection, process), name="engine-reader", daemon=True
            ).start()
        else:
            loop.call_soon_threadsafe(self._watch, loop, connection, process)
        return True

    def _receive(self, connection: Connection) -> None:
        """Read one batch of the engine's messages and act on them (EOFError: it died)."""
        for message in connection.recv():
            self._dispatch(message)

    def _read(self, connection: Connection, process: subprocess.Popen[bytes]) -> None:
        """The reader thread: dispatch until the pipe closes, or hand it to the event loop."""
        while True:
            try:
                if connection.poll(HANDOVER_POLL):
                    self._receive(connection)
                elif self._handover.is_set() and self._loop is not None:
                    self._loop.call_soon_threadsafe(self._watch, self._loop, connection, process)
                    return
            except (EOFError, OSError):
                break
        connection.close()
        self._bury(process)

    def _watch(
        self,
        loop: asyncio.AbstractEventLoop,
        connection: Connection,
        process: subprocess.Popen[bytes],
    ) -> None:
        """On the event loop: read the socket whenever it has something."""
        fd = connection.fileno()

        def readable() -> None:
            try:
                # A batch is written whole by the engine: recv does not wait for long.
                self._receive(connection)
            except (EOFError, OSError):
                loop.remove_reader(fd)
                connection.close()
                threading.Thread(target=self._bury, args=(process,), daemon=True).start()

        loop.add_reader(fd, readable)

    def _bury(self, process: subprocess.Popen[bytes]) -> None:
        """The engine's pipe closed: reap the child, and unless we are closing, report the
        death and start another."""
        _reap(process)
        self._running = False
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
        timer = threading.Timer(delay, self._restart)
        timer.daemon = True
        timer.start()

    def _restart(self) -> None:
        if not self._start() and not self._closing:
            self._crashed(self._process.returncode if self._process else None)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _reap(process: subprocess.Popen[bytes]) -> None:
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


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
