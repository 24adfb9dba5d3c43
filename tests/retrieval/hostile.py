"""Readers that behave like a native parser attacked by a hostile file: one that crashes its
process (as a PDFium bug would), one that never returns. Spawned reader processes import them
from here, so this module stays light."""

from __future__ import annotations

import os
import time

from causerie.retrieval.extract import ExtractLimits
from causerie.retrieval.reader import ReadResult, read_passages

CRASH, HANG = b"%%crash-the-reader%%", b"%%hang-the-reader%%"


def fragile_reader(kind: str, data: bytes, limits: ExtractLimits) -> ReadResult:
    """The real reader, but a file holding CRASH aborts the process and HANG never ends."""
    if CRASH in data:
        os.abort()
    if HANG in data:
        time.sleep(3600)
    return read_passages(kind, data, limits)
