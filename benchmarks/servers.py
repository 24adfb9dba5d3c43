"""Starting servers for the benchmarks: a free port, a subprocess kept until the block ends, and
``causerie serve`` on a data directory of its own. Shared by decode, proxy, serving and peers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

READY_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Running:
    """A started server: its root URL and process id (for memory readings)."""

    name: str
    root: str
    pid: int

    @property
    def url(self) -> str:
        """The OpenAI-compatible base URL."""
        return f"{self.root}/v1"


def default_models_dir() -> Path:
    """Where the tests and benchmarks keep the bundled model (``$XDG_CACHE_HOME`` or ~/.cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "causerie" / "test-models"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def started(
    name: str,
    command: list[str],
    port: int,
    log_path: Path,
    *,
    env: dict[str, str] | None = None,
    ready_path: str = "/v1/models",
) -> Iterator[Running]:
    """Run ``command`` until the block ends, once ``ready_path`` answers 200."""
    with log_path.open("ab") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited; see {log_path}")
            try:
                if httpx.get(f"{root}{ready_path}", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start; see {log_path}")
            time.sleep(0.2)
        yield Running(name, root, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def causerie(data_dir: Path, threads: int, **settings: str) -> Iterator[Running]:
    """``causerie serve`` on SQLite in ``data_dir``; ``settings`` are extra ``CAUSERIE_*``
    variables (the caller's own CAUSERIE_DATABASE_URL and CAUSERIE_MODEL are not inherited)."""
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if k not in ("CAUSERIE_DATABASE_URL", "CAUSERIE_MODEL")
    }
    env |= {
        "CAUSERIE_DATA_DIR": str(data_dir),
        "CAUSERIE_THREADS": str(threads),
        "CAUSERIE_LOG_LEVEL": "warning",
        **settings,
    }
    command = [sys.executable, "-m", "causerie", "serve", "--port", str(port)]
    with started(
        "causerie", command, port, data_dir / "server.log", env=env, ready_path="/ready"
    ) as running:
        yield running
