"""Documents on 2 cores: how soon a 300-page PDF is keyword-searchable and then fully embedded
after its upload, and what its ingestion costs a chat going on at the same time.

In one run, against a real ``causerie serve`` (the bundled model, SQLite, its own data
directory):

1. the script writes a 300-page text PDF (about 150,000 words of generated prose, seeded, so
   every run reads the same file);
2. it measures a chat's time to first token while nothing else runs (``--chats`` streamed
   requests, one after the other);
3. it uploads the PDF to ``/api/files`` and polls the file's status every 0.1 s until it is
   ``searchable``, then ``ready`` (every passage embedded), while a second thread keeps asking
   the same chat questions;
4. it prints the upload's answer time, the time to searchable (target <= 15 s) and to ready
   (target <= 3 min), and the chat's TTFT while the PDF was ingested against idle (target
   <= 2x);
5. on a SQLite file of its own, it stores ``--passages`` passages (20,000 by default) with a
   vector each (random unit vectors: a scan's cost does not depend on their values) and times
   ``--queries`` searches over all of them, keyword only and hybrid (the question embedded by
   the real model, keyword and vector rankings combined), generation excluded; target p95 <=
   300 ms.

    .venv/bin/python benchmarks/documents.py
    .venv/bin/python benchmarks/documents.py --pages 300 --chats 8 --json documents.json
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import servers
from fpdf import FPDF
from rich.console import Console
from rich.table import Table

console = Console(width=110)
WORDS = (
    "harbour keeper lamp tide storm evening winter ledger coast island boat rope lantern "
    "weather wind north rock light fog bell sailor granite wave gull shore cliff night "
    "morning season village market bread salt net anchor mast chart compass signal"
).split()
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def write_pdf(path: Path, pages: int, seed: int = 7) -> int:
    """A text PDF of ``pages`` pages of generated prose; returns the number of words."""
    rng = random.Random(seed)
    pdf = FPDF()
    pdf.set_font("helvetica", size=10)
    words = 0
    for number in range(1, pages + 1):
        pdf.add_page()
        sentences = []
        for _ in range(40):
            sentence = [rng.choice(WORDS) for _ in range(rng.randint(8, 16))]
            words += len(sentence)
            sentences.append(" ".join(sentence).capitalize() + ".")
        pdf.multi_cell(0, 4, f"Page {number}. " + " ".join(sentences))
    pdf.output(str(path))
    return words


def ttft(client: httpx.Client, url: str) -> float:
    body = {"model": "default", "messages": QUESTION, "max_tokens": 8, "stream": True}
    started = time.perf_counter()
    with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if '"content":"' in line and '"content":""' not in line:
                return time.perf_counter() - started
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--chats", type=int, default=8, help="idle chat requests measured")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads")
    parser.add_argument("--passages", type=int, default=20_000, help="passages searched")
    parser.add_argument("--queries", type=int, default=200, help="searches timed")
    parser.add_argument("--models-dir", type=Path, default=servers.default_models_dir())
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    from causerie.engine.model import bundled_model_path

    bundled_model_path(args.models_dir)
    with tempfile.TemporaryDirectory(prefix="causerie-documents-bench-") as tmp:
        root = Path(tmp)
        pdf = root / "book.pdf"
        words = write_pdf(pdf, args.pages)
        data = pdf.read_bytes()
        (root / "server").mkdir()
        models = {"CAUSERIE_MODELS_DIR": str(args.models_dir)}
        with servers.causerie(root / "server", args.threads, **models) as server:
            results = run(server.root, data, args.chats)
        keyword, hybrid = search_times(root / "search.db", args.passages, args.queries)
    results |= {
        "pages": args.pages,
        "words": words,
        "bytes": len(data),
        "search_s": keyword,
        "hybrid_search_s": hybrid,
    }
    report(results, args)


def search_times(
    path: Path, count: int, queries: int, seed: int = 11
) -> tuple[list[float], list[float]]:
    """Seconds per search over ``count`` stored passages of generated prose, spread over a
    hundred files (the files a user's question may search): keyword only, and hybrid."""
    import numpy as np

    from causerie.retrieval.embed import Embedder
    from causerie.retrieval.search import hybrid_search
    from causerie.storage import Database
    from causerie.storage.contents import DocumentContents
    from causerie.storage.documents import DocumentStore
    from causerie.types import Passage

    rng = random.Random(seed)
    database = Database(f"sqlite:///{path}")
    database.migrate()
    store, contents = DocumentStore(database, "bench"), DocumentContents(database)
    files = []
    per_file = max(1, count // 100)
    for number in range(0, count, per_file):
        stored = store.add(f"file-{number}.txt", "text", f"file {number}".encode())
        passages = [
            Passage(i, None, 0, 0, " ".join(rng.choice(WORDS) for _ in range(180)))
            for i in range(min(per_file, count - number))
        ]
        contents.save_passages(stored.sha256, 1, passages)
        todo = contents.next_to_embed(stored.sha256, len(passages))
        vectors = np.random.default_rng(number).normal(size=(len(todo), 512))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        pairs = [(pid, v.tolist()) for (pid, _), v in zip(todo, vectors, strict=True)]
        contents.save_vectors(stored.sha256, "random", pairs)
        files.append(stored.id)
    embedder = Embedder()
    embedder.embed(["warm up"])
    keyword, hybrid = [], []
    for _ in range(queries):
        question = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 7)))
        started = time.perf_counter()
        store.search(question, files, limit=20)
        keyword.append(time.perf_counter() - started)
        started = time.perf_counter()
        hybrid_search(store, embedder, question, files, limit=8)
        hybrid.append(time.perf_counter() - started)
    database.dispose()
    return keyword, hybrid


def run(url: str, data: bytes, chats: int) -> dict[str, float | list[float]]:
    with httpx.Client(timeout=120) as client:
        ttft(client, url)  # warm up
        idle = [ttft(client, url) for _ in range(chats)]
        busy: list[float] = []
        reading = threading.Event()
        reading.set()

        def chat_while_reading() -> None:
            with httpx.Client(timeout=120) as other:
                while reading.is_set():
                    busy.append(ttft(other, url))

        started = time.perf_counter()
        answer = client.post(f"{url}/api/files", files={"file": ("book.pdf", data)})
        answered = time.perf_counter() - started
        answer.raise_for_status()
        chatter = threading.Thread(target=chat_while_reading)
        chatter.start()
        file_id = answer.json()["id"]
        status = answer.json()["status"]
        while status not in ("searchable", "embedding", "ready", "no_text", "failed"):
            time.sleep(0.1)
            status = client.get(f"{url}/api/files/{file_id}").json()["status"]
        searchable = time.perf_counter() - started
        if status not in ("searchable", "embedding", "ready"):
            raise RuntimeError(f"the PDF ended {status}")
        body: dict[str, object] = {}
        while status not in ("ready", "failed"):
            time.sleep(0.2)
            body = client.get(f"{url}/api/files/{file_id}").json()
            status = str(body["status"])
        ready = time.perf_counter() - started
        reading.clear()
        chatter.join()
        if status != "ready":
            raise RuntimeError(f"the PDF ended {status}")
    return {
        "upload_answer_s": answered,
        "searchable_s": searchable,
        "ready_s": ready,
        "passages": float(str(body.get("passages", 0))),
        "idle_ttft_s": idle,
        "reading_ttft_s": busy,
    }


def report(results: dict[str, object], args: argparse.Namespace) -> None:
    idle = results["idle_ttft_s"]
    busy = results["reading_ttft_s"]
    assert isinstance(idle, list) and isinstance(busy, list)
    idle_ms = statistics.median(idle) * 1000
    busy_ms = statistics.median(busy) * 1000 if busy else float("nan")
    table = Table(title=f"A {results['pages']}-page PDF ({results['words']:,} words)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    table.add_row("PDF size", f"{results['bytes']:,} bytes", "")
    table.add_row("upload answered in", f"{float(results['upload_answer_s']) * 1000:.0f} ms", "")
    table.add_row("keyword-searchable after", f"{results['searchable_s']:.1f} s", "<= 15 s")
    table.add_row(
        f"every passage embedded ({results['passages']:.0f}) after",
        f"{results['ready_s']:.1f} s",
        "<= 180 s",
    )
    table.add_row("chat TTFT p50, idle", f"{idle_ms:.0f} ms ({len(idle)} chats)", "")
    table.add_row("chat TTFT p50, while ingesting", f"{busy_ms:.0f} ms ({len(busy)} chats)", "")
    table.add_row("ratio", f"{busy_ms / idle_ms:.2f}x", "<= 2x")
    for key, label in (("search_s", "keyword"), ("hybrid_search_s", "hybrid")):
        search = results[key]
        assert isinstance(search, list)
        cuts = statistics.quantiles(search, n=20)
        table.add_row(
            f"{label} search over {args.passages:,} passages",
            f"p50 {statistics.median(search) * 1000:.1f} ms, p95 {cuts[18] * 1000:.1f} ms",
            "p95 <= 300 ms",
        )
    console.print(table)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
