"""Pulls started from the admin page: each runs ``hub.pull`` on a thread of its own while the
page polls its progress (the bytes its partial file holds against the file's size).

One pull per name at a time; a finished pull (done or failed) stays listed until the same name
is pulled again, so the admin sees how it ended. The pulls live in the server's memory: a
restart forgets them, and an interrupted one resumes from its partial file when pulled again.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from causerie.errors import CauserieError
from causerie.hub.pull import PullResult, RemoteFile, pull

State = Literal["resolving", "downloading", "verifying", "done", "failed"]


@dataclass
class PullJob:
    """One pull: what was asked, what the hub chose, how far it got, how it ended."""

    name: str
    requested_by: str
    started_at: float = field(default_factory=time.time)
    remote: RemoteFile | None = None
    partial: Path | None = None
    finished: State | None = None  # done or failed, once it ended
    result: PullResult | None = None
    error: str = ""

    @property
    def received(self) -> int:
        """Bytes downloaded so far."""
        if self.result is not None:
            return self.result.remote.size
        if self.partial is None:
            return 0
        try:
            return self.partial.stat().st_size
        except OSError:  # renamed into place, or removed after a bad checksum
            return self.remote.size if self.remote is not None else 0

    @property
    def size(self) -> int | None:
        return self.remote.size if self.remote is not None else None

    @property
    def state(self) -> State:
        if self.finished is not None:
            return self.finished
        if self.remote is None:
            return "resolving"
        return "verifying" if self.received >= self.remote.size else "downloading"

    @property
    def running(self) -> bool:
        return self.finished is None

    def summary(self) -> dict[str, object]:
        """What the admin page shows (and polls as JSON)."""
        return {
            "name": self.name,
            "state": self.state,
            "received": self.received,
            "size": self.size,
            "file": self.result.path.name if self.result else None,
            "already_present": bool(self.result and self.result.already_present),
            "error": self.error,
        }


class PullJobs:
    """The pulls of this server process into ``models_dir``."""

    def __init__(self, models_dir: Path) -> None:
        self._models_dir = models_dir
        self._jobs: dict[str, PullJob] = {}
        self._lock = threading.Lock()

    def start(self, name: str, requested_by: str) -> PullJob:
        """Start pulling ``name`` (the one already running, if there is one)."""
        name = name.strip()
        with self._lock:
            running = self._jobs.get(name)
            if running is not None and running.running:
                return running
            job = PullJob(name, requested_by)
            self._jobs[name] = job
        thread = threading.Thread(target=self._run, args=(job,), name=f"pull {name}", daemon=True)
        thread.start()
        return job

    def _run(self, job: PullJob) -> None:
        def observe(remote: RemoteFile, partial: Path) -> None:
            job.remote, job.partial = remote, partial

        try:
            job.result = pull(job.name, self._models_dir, observe)
        except CauserieError as exc:
            job.error = str(exc)
            job.finished = "failed"
        except Exception as exc:  # an unexpected failure still ends the job, readably
            job.error = f"{type(exc).__name__}: {exc}"
            job.finished = "failed"
        else:
            job.finished = "done"

    def all(self) -> list[PullJob]:
        """Every pull this process knows, newest first."""
        with self._lock:
            return sorted(self._jobs.values(), key=lambda job: job.started_at, reverse=True)
