"""Reading uploaded files in the background: an upload never waits for its text.

The queue is the database: every content not read yet (``pending``, or ``extracting`` when a
stop interrupted it) is read, oldest first, one at a time, so a restart resumes where the last
run stopped. ``submit`` only wakes the worker. The reading itself (PDFium, python-docx, the
passage cutter) runs on one thread of its own at a lower CPU priority than the server's, so that
a 300-page PDF does not slow the replies being generated meanwhile; PDFium releases the GIL while
it works.

A content deleted while it is read is not resurrected: the store refuses passages for content
that is gone (that is how an upload is cancelled). Reading one content never stops the next: a
file that cannot be read is marked ``failed`` with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from causerie.errors import CauserieError
from causerie.retrieval.chunk import passages
from causerie.retrieval.extract import ExtractLimits, as_kind, read
from causerie.types import Passage

log = logging.getLogger(__name__)

BACKGROUND_NICENESS = 10
RETRY_SECONDS = 5.0


class Contents(Protocol):
    """The store's side of ingestion (``storage.documents.DocumentContents``)."""

    def unread(self) -> list[str]: ...

    def begin(self, sha: str) -> tuple[str, bytes] | None: ...

    def save_passages(self, sha: str, pages: int, passages: Sequence[Passage]) -> None: ...

    def fail(self, sha: str, error: str) -> None: ...


def lower_priority() -> None:
    """Run this thread at a lower CPU priority (Linux sets niceness per thread)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICENESS)
    except (OSError, AttributeError):  # not permitted, or not Linux: run at normal priority
        pass


class Ingestor:
    """The background reader. Its worker runs on the event loop that last started it (a
    server has one; the in-process tests start one per test)."""

    def __init__(self, contents: Contents, limits: ExtractLimits | None = None) -> None:
        self._contents = contents
        self.limits = limits or ExtractLimits()  # the uploads' too (api/files.py)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._thread = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="ingest", initializer=lower_priority
        )

    def start(self) -> None:
        """Start the worker on the running loop; it first reads what a stop left unread."""
        loop = asyncio.get_running_loop()
        if self._task is not None and not self._task.done() and self._loop is loop:
            return
        self._loop = loop
        self._wake, self._idle = asyncio.Event(), asyncio.Event()
        self._task = loop.create_task(self._run(self._wake, self._idle), name="ingest")
        self._wake.set()

    def submit(self) -> None:
        """New content was stored: read it soon."""
        self.start()
        self._idle.clear()
        self._wake.set()

    async def idle(self) -> None:
        """Wait until nothing is left to read."""
        self.start()
        await self._idle.wait()

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None and self._loop is asyncio.get_running_loop():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._thread.shutdown(wait=True, cancel_futures=True)

    async def _run(self, wake: asyncio.Event, idle: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await wake.wait()
            wake.clear()
            while shas := await loop.run_in_executor(self._thread, self._contents.unread):
                for sha in shas:
                    try:
                        await loop.run_in_executor(self._thread, self.ingest, sha)
                    except Exception:  # the database failed: try again a little later
                        log.exception("ingesting content %s failed; retrying", sha[:12])
                        await asyncio.sleep(RETRY_SECONDS)
            if not wake.is_set():
                idle.set()

    def ingest(self, sha: str) -> None:
        """Read one content and store its passages (on the ingestion thread)."""
        started = self._contents.begin(sha)
        if started is None:
            return
        kind, data = started
        try:
            extracted = read(as_kind(kind), data, limits=self.limits)
            found = list(passages(extracted.pages)) if extracted.has_text else []
            self._contents.save_passages(sha, len(extracted.pages), found)
        except CauserieError as exc:
            self._contents.fail(sha, exc.message)
        except Exception as exc:  # a parser's own failure on a hostile file
            log.warning("reading content %s failed", sha[:12], exc_info=True)
            self._contents.fail(sha, f"The file could not be read ({type(exc).__name__}).")
