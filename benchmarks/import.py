"""Importing a heavy ChatGPT history: 1,000 conversations / 50,000 messages on 2 cores.

Generates a ChatGPT ``conversations.json`` in the export's format (``tests/archive/
chatgpt_factory.py``: a hidden root and system node, alternating turns, a regenerated reply in
each conversation), then runs ``causerie import`` on it as a process of its own, into a fresh
SQLite database (or ``--database-url``), and again on the same file (which must write nothing).
Peak RSS is the import process's ``ru_maxrss``, and "above idle" subtracts the peak of the same
command importing a one-conversation export (the interpreter, Causerie and the database engine
alone). Issue #12's targets: ≤ 60 s and ≤ 300 MB above idle.

    .venv/bin/python benchmarks/import.py --conversations 1000 --messages 50
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.archive.chatgpt_factory import bulk_conversations, write_conversations_json  # noqa: E402

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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="causerie-import-") as tmp:
        base = Path(tmp)
        small, heavy = base / "small.json", base / "conversations.json"
        write_conversations_json(small, bulk_conversations(1, args.messages, seed=1))
        size = write_conversations_json(
            heavy, bulk_conversations(args.conversations, args.messages)
        )
        url = args.database_url or f"sqlite:///{base / 'causerie.db'}"
        # The smallest first: each later peak is above it (ru_maxrss keeps the largest child).
        idle_s, idle_mb, _ = run_import(small, url, base)
        first_s, first_mb, first = run_import(heavy, url, base)
        again_s, again_mb, again = run_import(heavy, url, base)
    table = Table(title=f"Import of {args.conversations:,} conversations ({size / 1e6:.0f} MB)")
    for column in ("run", "seconds", "peak RSS MB", "above idle MB", "summary"):
        table.add_column(column, justify="right" if column != "summary" else "left")
    table.add_row("1 conversation (idle)", f"{idle_s:.1f}", f"{idle_mb:.0f}", "—", "")
    table.add_row(
        "first import", f"{first_s:.1f}", f"{first_mb:.0f}", f"{first_mb - idle_mb:.0f}", first
    )
    table.add_row("same file again", f"{again_s:.1f}", f"{again_mb:.0f}", "—", again)
    console.print(table)
    console.print("targets: first import <= 60 s, <= 300 MB above idle; the second writes nothing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
