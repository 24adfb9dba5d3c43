"""Importing a heavy ChatGPT history: 1,000 conversations / 50,000 messages on 2 cores.

Generates a ChatGPT ``conversations.json`` in the export's format (``tests/archive/
chatgpt_factory.py``: a hidden root and system node, alternating turns, a regenerated reply in
each conversation), then runs ``causerie import`` on it as a process of its own, into a fresh
SQLite database (or ``--database-url``), and again on the same file (which must write nothing).
Peak RSS is the import process's ``ru_maxrss``, and "above idle" subtracts the peak of the same
command importing a one-conversation export (the interpreter, Causerie and the database engine
alone). Issue #12's targets: ≤ 60 s and ≤ 300 MB above idle.

``--through server`` measures the page's way instead: a real ``causerie serve`` on a fresh
SQLite file, the export uploaded to ``POST /api/imports`` and ``GET /api/imports/{id}`` polled
until done (the time covers both), then the same file again. The server process's resident
memory (VmRSS) is sampled every 20 ms; "above idle" subtracts its RSS once ready, before any
import (the engine's child process is not counted: an import never reaches it).

    .venv/bin/python benchmarks/import.py --conversations 1000 --messages 50
    .venv/bin/python benchmarks/import.py --conversations 1000 --messages 50 --through server
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import servers
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.archive.chatgpt_factory import bulk_conversations, write_conversations_json  # noqa: E402

POLL_S = 0.2

console = Console(width=120)


def run_import(path: Path, database_url: str, data_dir: Path) -> tuple[float, float, str]:
    """Seconds, peak RSS in MB and the summary of one ``causerie import`` process."""
    env = {**os.environ, "CAUSERIE_DATA_DIR": str(data_dir), "CAUSERIE_DATABASE_URL": database_url}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "causerie", "import", str(path)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest child so far
    if peak <= before:
        console.print("[yellow]peak RSS not above an earlier child's: read it as an upper bound[/]")
    return seconds, peak / 1024, done.stdout.strip().splitlines()[0] if done.stdout else ""


def rss_mb(pid: int) -> float:
    """The resident memory of process ``pid`` now (VmRSS), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


class PeakRss:
    """The largest RSS of a process while the block runs (sampled every 20 ms)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            self._stop.wait(0.02)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb(self.pid))


def upload(client: httpx.Client, path: Path) -> tuple[float, float, str]:
    """Upload ``path`` to ``POST /api/imports`` and poll until it ended: seconds to upload,
    seconds in all, and the summary."""
    started = time.perf_counter()
    with path.open("rb") as file:
        response = client.post("/api/imports", files={"file": (path.name, file)})
    response.raise_for_status()
    uploaded = time.perf_counter() - started
    job = response.json()
    while job["state"] not in ("done", "failed"):
        time.sleep(POLL_S)
        job = client.get(f"/api/imports/{job['id']}").raise_for_status().json()
    seconds = time.perf_counter() - started
    if job["state"] == "failed":
        raise SystemExit(f"the import failed: {job['error']}")
    s = job["summary"]
    summary = (
        f"{s['created']} new, {s['updated']} updated, {s['unchanged']} already here; "
        f"{s['messages']} messages"
    )
    return uploaded, seconds, summary


def through_server(heavy: Path, base: Path, models_dir: Path) -> Table:
    """The export uploaded twice to a fresh ``causerie serve``: a table of the two runs."""
    data_dir = base / "server"
    data_dir.mkdir()
    settings = {
        "CAUSERIE_DATABASE_URL": f"sqlite:///{data_dir / 'causerie.db'}",
        "CAUSERIE_MODELS_DIR": str(models_dir),
    }
    table = Table()
    for column in ("run", "upload s", "seconds", "peak RSS MB", "above idle MB", "summary"):
        table.add_column(column, justify="left" if column in ("run", "summary") else "right")
    with (
        servers.causerie(data_dir, 1, **settings) as running,
        httpx.Client(base_url=running.root, timeout=600) as client,
    ):
        time.sleep(1)  # let start-up settle
        idle = rss_mb(running.pid)
        table.add_row("server ready (idle)", "—", "—", f"{idle:.0f}", "—", "")
        for run in ("first import", "same file again"):
            with PeakRss(running.pid) as peak:
                uploaded, seconds, summary = upload(client, heavy)
            table.add_row(
                run,
                f"{uploaded:.1f}",
                f"{seconds:.1f}",
                f"{peak.peak:.0f}",
                f"{peak.peak - idle:.0f}",
                summary,
            )
    return table


def through_cli(small: Path, heavy: Path, base: Path, database_url: str) -> Table:
    url = database_url or f"sqlite:///{base / 'causerie.db'}"
    # The smallest first: each later peak is above it (ru_maxrss keeps the largest child).
    idle_s, idle_mb, _ = run_import(small, url, base)
    first_s, first_mb, first = run_import(heavy, url, base)
    again_s, again_mb, again = run_import(heavy, url, base)
    table = Table()
    for column in ("run", "seconds", "peak RSS MB", "above idle MB", "summary"):
        table.add_column(column, justify="right" if column != "summary" else "left")
    table.add_row("1 conversation (idle)", f"{idle_s:.1f}", f"{idle_mb:.0f}", "—", "")
    table.add_row(
        "first import", f"{first_s:.1f}", f"{first_mb:.0f}", f"{first_mb - idle_mb:.0f}", first
    )
    table.add_row("same file again", f"{again_s:.1f}", f"{again_mb:.0f}", "—", again)
    return table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument(
        "--through",
        choices=("cli", "server"),
        default="cli",
        help="cli: `causerie import`; server: upload to a `causerie serve` (SQLite)",
    )
    parser.add_argument("--models-dir", type=Path, default=servers.default_models_dir())
    args = parser.parse_args(argv)
    if args.through == "server" and args.database_url:
        parser.error("--through server runs on a fresh SQLite file (no --database-url)")
    with tempfile.TemporaryDirectory(prefix="causerie-import-") as tmp:
        base = Path(tmp)
        small, heavy = base / "small.json", base / "conversations.json"
        write_conversations_json(small, bulk_conversations(1, args.messages, seed=1))
        size = write_conversations_json(
            heavy, bulk_conversations(args.conversations, args.messages)
        )
        if args.through == "server":
            table = through_server(heavy, base, args.models_dir)
        else:
            table = through_cli(small, heavy, base, args.database_url)
    how = "through the server" if args.through == "server" else "with causerie import"
    table.title = f"Import of {args.conversations:,} conversations ({size / 1e6:.0f} MB), {how}"
    console.print(table)
    console.print("targets: first import <= 60 s, <= 300 MB above idle; the second writes nothing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
