"""Reading and embedding uploaded files in the background: an upload never waits for either.

The queue is the database: every content not read yet (``pending``, or ``extracting`` when a
stop interrupted it) is read, oldest first, one at a time, so a restart resumes where the last
run stopped. ``submit`` only wakes the worker. The reading itself (PDFium, python-docx, the
passage cutter) runs on one thread of its own at a lower CPU priority than the server's, so that
a 300-page PDF does not slow the replies being generated meanwhile; PDFium releases the GIL while
it works.

Once every read content is keyword-searchable, the worker embeds their passages, a batch at a
time and oldest content first, saving each batch: a file uploaded meanwhile is read before the
next batch (a new file is searchable by keyword within seconds even while a long one is being
embedded), and a restart resumes the embedding at the first passage without a vector.

A content deleted while it is read is not resurrected: the store refuses passages for content
that is gone (that is how an upload is cancelled). Reading one content never stops the next: a
file that cannot be read is marked ``failed`` with the reason; PDFs and Word files are read in
a child process (``retrieval/reader.py``), so one built to crash or hang the reader fails alone
and never takes the server down, nor again at the next start.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from causerie.retrieval.embed import Embedder
from causerie.retrieval.extract import ExtractLimits
from causerie.retrieval.reader import READ_TIMEOUT, Read, read_isolated, read_passages
from causerie.types import Passage

log = logging.getLogger(__name__)

BACKGROUND_NICENESS = 10
RETRY_SECONDS = 5.0
# Passages embedded between two looks at the reading queue; a chat turn's question waits for
# at most one batch to get the model.
EMBED_BATCH = 8


class Contents(Protocol):
    """The store's side of ingestion (``storage.documents.DocumentContents``)."""

    def unread(self) -> list[str]: ...

    def begin(self, sha: str) -> tuple[str, bytes] | None: ...

    def save_passages(self, sha: str, pages: int, passages: Sequence[Passage]) -> None: ...

    def fail(self, sha: str, error: str) -> None: ...

    def unembedded(self) -> list[str]: ...

    def next_to_embed(self, sha: str, limit: int) -> list[tuple[int, str]]: ...

    def save_vectors(
        self, sha: str, model: str, vectors: Sequence[tuple[int, Sequence[float]]]
    ) -> None: ...


def lower_priority() -> None:
    """Run this thread at a lower CPU priority (Linux sets niceness per thread)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICENESS)
    except (OSError, AttributeError):  # not permitted, or not Linux: run at normal priority
        pass


class Ingestor:
    """The background reader. Its worker runs on the event loop that last started it (a
    server has one; the in-process tests start one per test)."""

    def __init__(
        self,
        contents: Contents,
        limits: ExtractLimits | None = None,
        embedder: Embedder | None = None,
        *,
        reader: Read = read_passages,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        self._contents = contents
        self._reader, self._read_timeout = reader, read_timeout
        self._embedder = embedder  # None: keyword search only, contents stay ``searchable``
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
        while True:
            await wake.wait()
            wake.clear()
            while await self._step():
                pass
            if not wake.is_set():
                idle.set()

    async def _step(self) -> bool:
        """Read every unread content, else embed one batch; False when nothing is left."""
        loop = asyncio.get_running_loop()
        try:
            if shas := await loop.run_in_executor(self._thread, self._contents.unread):
                for sha in shas:
                    await loop.run_in_executor(self._thread, self.ingest, sha)
                return True
            if self._embedder is None:
                return False
            for sha in await loop.run_in_executor(self._thread, self._contents.unembedded):
                if await loop.run_in_executor(self._thread, self.embed_batch, sha):
                    return True
            return False
        except Exception:  # the database failed: try again a little later
            log.exception("ingesting uploaded files failed; retrying")
            await asyncio.sleep(RETRY_SECONDS)
            return True

    def ingest(self, sha: str) -> None:
        """Read one content and store its passages (on the ingestion thread)."""
        started = self._contents.begin(sha)
        if started is None:
            return
        kind, data = started
        result = read_isolated(
            kind, data, self.limits, reader=self._reader, timeout=self._read_timeout
        )
        if result.error is not None:
            log.warning("reading content %s failed: %s", sha[:12], result.error)
            self._contents.fail(sha, result.error)
        else:
            self._contents.save_passages(sha, result.pages, result.passages)

    def embed_batch(self, sha: str) -> int:
        """Embed the content's next passages without a vector (on the ingestion thread); how
        many were embedded (0: the content is ready, or gone)."""
        assert self._embedder is not None
        todo = self._contents.next_to_embed(sha, EMBED_BATCH)
        if not todo:
            return 0
        vectors = self._embedder.embed([text for _, text in todo])
        pairs = [
            (passage_id, vector.tolist())
            for (passage_id, _), vector in zip(todo, vectors, strict=True)
        ]
        self._contents.save_vectors(sha, self._embedder.name, pairs)
        return len(todo)
