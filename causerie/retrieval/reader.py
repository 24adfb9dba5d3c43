"""Reading a file's text where a hostile file cannot take the server down with it.

PDFs and DOCX files are read by native code (PDFium, lxml). A file crafted to crash it, or to
make it loop forever, must cost that one file, not the server: it is read in a child process
of its own (spawned, at a lower CPU priority), which is killed after ``timeout`` seconds. The
other kinds are read by Python code, on the calling thread. Either way the result is the
passages, or the reason the file could not be read, in words a user can act on.

A child process per file costs about half a second to start; for a background job that reads
PDFs and Word files, that buys isolation without a pool to supervise.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection

from causerie.errors import CauserieError
from causerie.retrieval.chunk import passages
from causerie.retrieval.extract import ExtractLimits, as_kind, read
from causerie.types import Passage

NATIVE_KINDS = frozenset({"pdf", "docx"})
READ_TIMEOUT = 300.0
CHILD_NICENESS = 10


@dataclass(frozen=True, slots=True)
class ReadResult:
    """The file's page count and passages, or ``error``: why it has none."""

    pages: int = 0
    passages: tuple[Passage, ...] = ()
    error: str | None = None


Read = Callable[[str, bytes, ExtractLimits], ReadResult]


def read_passages(kind: str, data: bytes, limits: ExtractLimits) -> ReadResult:
    """The text of ``data`` cut into passages (in this process)."""
    try:
        extracted = read(as_kind(kind), data, limits=limits)
    except CauserieError as exc:
        return ReadResult(error=exc.message)
    except Exception as exc:  # a parser's own failure on a hostile file
        return ReadResult(error=f"The file could not be read ({type(exc).__name__}).")
    found = tuple(passages(extracted.pages)) if extracted.has_text else ()
    return ReadResult(len(extracted.pages), found)


def _child(
    connection: Connection, reader: Read, kind: str, data: bytes, limits: ExtractLimits
) -> None:
    try:
        os.nice(CHILD_NICENESS)
    except OSError:
        pass
    connection.send(reader(kind, data, limits))
    connection.close()


def read_isolated(
    kind: str,
    data: bytes,
    limits: ExtractLimits,
    *,
    reader: Read = read_passages,
    timeout: float = READ_TIMEOUT,
) -> ReadResult:
    """``reader(kind, data, limits)``, in a child process for the kinds native code reads."""
    if kind not in NATIVE_KINDS:
        return reader(kind, data, limits)
    context = multiprocessing.get_context("spawn")
    receiving, sending = context.Pipe(duplex=False)
    child = context.Process(
        target=_child, args=(sending, reader, kind, data, limits), name="causerie-reader"
    )
    child.start()
    sending.close()
    answered = False
    try:
        if receiving.poll(timeout):
            result: ReadResult = receiving.recv()
            answered = True
            return result
        if child.is_alive():
            return ReadResult(
                error=f"Reading the file took over {timeout:.0f} seconds; it was stopped."
            )
    except (EOFError, OSError):
        pass  # the child died before it answered
    finally:
        child.join(2 if answered else 0)  # one that answered exits at once
        if child.is_alive():
            child.kill()
            child.join()
        receiving.close()
    return ReadResult(
        error=f"The file made the {kind.upper()} reader stop (exit code {child.exitcode}); "
        "it may be damaged or built to attack readers."
    )
