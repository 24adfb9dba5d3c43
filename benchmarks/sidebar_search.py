"""Sidebar, search and long-conversation response times with 10,000 conversations.

Seeds a fresh database (SQLite by default, or ``--database-url`` for Postgres) with
``--conversations`` conversations of ``--messages`` messages each (10,000 x 10 = 100,000 by
default: pseudo-words with a Zipf distribution, plus a few real words at known frequencies),
one conversation of 500 messages with markdown (code, lists, tables), then starts a real
``causerie serve`` on it and times, over HTTP with httpx, ``--runs`` requests of each kind:

- ``GET /``: the new-chat page with the sidebar's pinned list and first page;
- ``GET /sidebar?cursor=...``: a page deep in the list (keyset pagination);
- ``GET /search?q=...``: a frequent word, a rare word, a three-letter prefix, two words;
- ``GET /c/<id>``: the 500-message conversation (every reply rendered and sanitized).

Server time is the request's wall time seen by the client on loopback (HTTP included).
Reports p50 / p95 / max in milliseconds as a Markdown table (``--json`` to save the numbers).

    .venv/bin/python benchmarks/sidebar_search.py
    .venv/bin/python benchmarks/sidebar_search.py --conversations 2000 --runs 50
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import servers
from sqlalchemy import insert

from causerie.storage import Database
from causerie.storage.conversations import chain_hash
from causerie.storage.tables import ConversationRow, MessageRow

ROOT = Path(__file__).resolve().parent.parent
REAL_WORDS = {"paris": 0.01, "python": 0.003, "zeppelin": 0.0002}  # share of messages


def vocabulary(rng: random.Random, size: int = 4000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(3, 9))))
    return sorted(words)


def sentence(rng: random.Random, words: list[str], weights: list[float], length: int) -> str:
    chosen = rng.choices(words, weights=weights, k=length)
    for word, share in REAL_WORDS.items():
        if rng.random() < share:
            chosen[rng.randrange(length)] = word
    return " ".join(chosen).capitalize() + "."


def seed(database: Database, conversations: int, per: int, rng: random.Random) -> str:
    words = vocabulary(rng)
    weights = [1 / (rank + 1) for rank in range(len(words))]
    now = datetime.now(UTC)
    batch_c: list[dict[str, object]] = []
    batch_m: list[dict[str, object]] = []

    def flush() -> None:
        with database.engine.begin() as connection:
            if batch_c:
                connection.execute(insert(ConversationRow), batch_c)
            if batch_m:
                connection.execute(insert(MessageRow), batch_m)
        batch_c.clear()
        batch_m.clear()

    for index in range(conversations):
        conversation_id = str(uuid.uuid4())
        updated = now - timedelta(minutes=index * 97)  # about two years of history
        parent: str | None = None
        parent_hash = ""
        for turn in range(per):
            role = "user" if turn % 2 == 0 else "assistant"
            content = sentence(rng, words, weights, 12 if role == "user" else 60)
            message_id = str(uuid.uuid4())
            parent_hash = chain_hash(parent_hash, role, content)
            batch_m.append(
                {
                    "id": message_id,
                    "conversation_id": conversation_id,
                    "parent_id": parent,
                    "role": role,
                    "content": content,
                    "chain_hash": parent_hash,
                    "status": "complete",
                    "prompt_tokens": 0,
                    "completion_tokens": 0,
                    "created_at": updated - timedelta(seconds=per - turn),
                }
            )
            parent = message_id
        batch_c.append(
            {
                "id": conversation_id,
                "title": sentence(rng, words, weights, 4)[:-1],
                "source": "web",
                "model": "",
                "current_leaf_id": parent,
                "created_at": updated - timedelta(seconds=per),
                "updated_at": updated,
                "pinned": index % 1000 == 0,
                "archived": False,
            }
        )
        if len(batch_m) >= 20_000:
            flush()
    flush()
    return long_conversation(database, rng, words, weights, now)


def long_conversation(
    database: Database, rng: random.Random, words: list[str], weights: list[float], now: datetime
) -> str:
    conversation_id = str(uuid.uuid4())
    rows: list[dict[str, object]] = []
    parent: str | None = None
    for turn in range(500):
        role = "user" if turn % 2 == 0 else "assistant"
        if role == "user":
            content = sentence(rng, words, weights, 15)
        else:
            content = (
                f"{sentence(rng, words, weights, 40)}\n\n"
                f"- {sentence(rng, words, weights, 6)}\n- {sentence(rng, words, weights, 6)}\n\n"
                f"```python\ndef f{turn}(x):\n    return x * {turn}\n```\n\n"
                "| a | b |\n|---|---:|\n| 1 | 2 |\n\n"
                f"**{sentence(rng, words, weights, 5)}** $x^{{{turn}}}$"
            )
        message_id = str(uuid.uuid4())
        rows.append(
            {
                "id": message_id,
                "conversation_id": conversation_id,
                "parent_id": parent,
                "role": role,
                "content": content,
                "chain_hash": uuid.uuid4().hex,
                "status": "complete",
                "prompt_tokens": 0,
                "completion_tokens": 0,
                "created_at": now - timedelta(seconds=500 - turn),
            }
        )
        parent = message_id
    with database.engine.begin() as connection:
        connection.execute(
            insert(ConversationRow),
            [
                {
                    "id": conversation_id,
                    "title": "A long conversation",
                    "source": "web",
                    "model": "",
                    "current_leaf_id": parent,
                    "created_at": now - timedelta(days=800),
                    "updated_at": now - timedelta(days=800),
                    "pinned": False,
                    "archived": False,
                }
            ],
        )
        connection.execute(insert(MessageRow), rows)
    return conversation_id


def start_server(
    data_dir: Path, database_url: str, models_dir: Path
) -> tuple[subprocess.Popen[bytes], str]:
    port = 8700 + os.getpid() % 200
    env = {
        **os.environ,
        "CAUSERIE_DATA_DIR": str(data_dir),
        "CAUSERIE_MODELS_DIR": str(models_dir),
        "CAUSERIE_DATABASE_URL": database_url,
        "CAUSERIE_LOG_LEVEL": "warning",
        "CAUSERIE_THREADS": "1",
    }
    log = (data_dir / "server.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "causerie", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited; see {data_dir / 'server.log'}")
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.terminate()
    raise SystemExit("server did not become ready")


def timed(client: httpx.Client, path: str, runs: int) -> list[float]:
    """``runs`` timings after one warm-up request (whose time is the list's first item)."""
    samples = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return samples


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=10, help="messages per conversation")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--database-url", default=None, help="an empty database (default SQLite)")
    parser.add_argument("--models-dir", type=Path, default=servers.default_models_dir())
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="causerie-bench-"))
    url = args.database_url or f"sqlite:///{data_dir / 'causerie.db'}"
    database = Database(url)
    database.migrate()
    started = time.perf_counter()
    long_id = seed(database, args.conversations, args.messages, random.Random(7))
    seconds = time.perf_counter() - started
    total = args.conversations * args.messages + 500
    print(f"seeded {args.conversations + 1} conversations, {total} messages in {seconds:.1f} s")
    database.dispose()

    process, base = start_server(data_dir, url, args.models_dir)
    results: dict[str, list[float]] = {}
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            results["GET / (sidebar: pinned + first page)"] = timed(client, "/", args.runs)
            html = client.get("/").text
            cursor = None
            for _ in range(100):  # walk 100 pages down: about 5,000 conversations deep
                marker = 'data-cursor="'
                if marker not in html:
                    break
                cursor = html.split(marker, 1)[1].split('"', 1)[0]
                html = client.get("/sidebar", params={"cursor": cursor}).text
            if cursor:
                path = "/sidebar?" + str(httpx.QueryParams({"cursor": cursor}))
                results["GET /sidebar?cursor= (page ~100)"] = timed(client, path, args.runs)
            for label, query in (
                ("frequent word", "paris"),
                ("rare word", "zeppelin"),
                ("prefix", "pyt"),
                ("two words", "python paris"),
            ):
                path = "/search?" + str(httpx.QueryParams({"q": query}))
                results[f"GET /search ({label}: {query!r})"] = timed(client, path, args.runs)
            other = html.split('href="/c/', 1)[1].split('"', 1)[0] if 'href="/c/' in html else None
            if other:  # warm the process (lexers, MathML) on another conversation first
                client.get(f"/c/{other}").raise_for_status()
            results["GET /c/<500-message conversation>"] = timed(
                client, f"/c/{long_id}", max(10, args.runs // 5)
            )
    finally:
        process.terminate()
        process.wait(timeout=20)

    engine = "SQLite" if url.startswith("sqlite") else "Postgres"
    print(f"\n{engine}, {args.conversations} conversations, {total} messages\n")
    print("| request | runs | p50 ms | p95 ms | max ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, timings in results.items():
        cold, samples = timings[0], timings[1:]
        if label.startswith("GET /c/"):
            print(f"| {label}: first open | 1 | {cold:.1f} | | |")
        print(
            f"| {label} | {len(samples)} | {statistics.median(samples):.1f} | "
            f"{percentile(samples, 0.95):.1f} | {max(samples):.1f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
