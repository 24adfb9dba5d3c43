"""Hybrid search: rank fusion and the weighted combination on their own, then keywords and the
real embedding model over real SQLite and Postgres, where a question in other words or
another language still finds its passage, and one that names a code finds it by its keyword."""

from __future__ import annotations

import pytest

from causerie.retrieval.search import KEYWORD_WEIGHT, RRF_K, combine, fuse, hybrid_search
from causerie.storage import Database
from causerie.storage.contents import DocumentContents
from causerie.storage.documents import DocumentStore
from causerie.types import PassageHit
from tests.helpers import EMBEDDER
from tests.storage.test_documents import ingest


def hit(sha: str, position: int, score: float = 0.0) -> PassageHit:
    return PassageHit(
        "f-" + sha, sha + ".txt", sha, position, None, 0, 1, f"{sha}{position}", score
    )


def test_fusion_rewards_agreement_between_the_rankings() -> None:
    keyword = [hit("a", 0), hit("b", 0), hit("c", 0)]
    vector = [hit("d", 0), hit("b", 0), hit("e", 0)]
    fused = fuse([keyword, vector], limit=10)
    # b is second in both: 2/(k+2) beats either first place alone, 1/(k+1); a and d tie, and
    # so do c and e: the keyword ranking's comes first
    assert [h.sha256 for h in fused] == ["b", "a", "d", "c", "e"]
    assert fused[0].score == pytest.approx(-2 / (RRF_K + 2))
    assert fuse([keyword, vector], limit=2) == fused[:2]
    assert fuse([keyword, []], limit=10) == [
        hit("a", 0, -1 / (RRF_K + 1)),
        hit("b", 0, -1 / (RRF_K + 2)),
        hit("c", 0, -1 / (RRF_K + 3)),
    ]
    assert fuse([], limit=5) == [] and fuse([[], []], limit=5) == []


def test_the_same_passage_counts_once_per_ranking_and_ties_keep_the_first_order() -> None:
    fused = fuse([[hit("a", 1), hit("a", 2)], [hit("a", 2), hit("a", 1)]], limit=10)
    assert [h.position for h in fused] == [1, 2]
    assert fused[0].score == fused[1].score


def test_combining_keeps_meaning_first_and_lets_keywords_break_near_ties() -> None:
    # distances: a is nearest; b is a hair further but is the best keyword hit
    similar = [hit("a", 0, 0.30), hit("b", 0, 0.31), hit("c", 0, 0.60)]
    keyword = [hit("b", 0, -8.0), hit("d", 0, -4.0)]  # BM25: lower is better
    combined = combine(keyword, similar, limit=10)
    assert [h.sha256 for h in combined] == ["b", "a", "d", "c"]
    w = KEYWORD_WEIGHT
    assert combined[0].score == pytest.approx(-((1 - w) * 0.69 + w * 1.0))
    # d has no vector (not embedded yet): the lowest similarity seen (c's), plus half the best
    # keyword score, so it comes before c
    assert combined[2].score == pytest.approx(-((1 - w) * 0.40 + w * 0.5))
    # a weak keyword match does not outweigh a clearly nearer passage
    far = combine([hit("c", 0, -8.0)], similar, limit=10)
    assert far[0].sha256 == "a"
    assert combine([], [], limit=3) == []
    assert [h.sha256 for h in combine(keyword, [], limit=3)] == ["b", "d"]


NOTES = {
    "harbour.txt": "The harbour of Brest closes at noon on Sundays; boats must leave before.",
    "bakery.txt": "Our bakery sells sourdough loaves baked every morning at five o'clock.",
    "garden.txt": "Tomatoes need six hours of sun a day and water at the roots, not the leaves.",
    "phare.txt": "Le gardien du phare a rallumé la lampe avec une lanterne après la tempête.",
    "codes.txt": "Error E24 means the drain is blocked. Error E15 means water in the base.",
}


def embed_everything(database: Database) -> None:
    contents = DocumentContents(database)
    for sha in contents.unembedded():
        while todo := contents.next_to_embed(sha, 32):
            vectors = EMBEDDER.embed([text for _, text in todo])
            pairs = [(pid, v.tolist()) for (pid, _), v in zip(todo, vectors, strict=True)]
            contents.save_vectors(sha, EMBEDDER.name, pairs)


@pytest.fixture
def notes(database: Database) -> dict[str, str]:
    store = DocumentStore(database, "alice")
    ids = {}
    for name, body in NOTES.items():
        stored = store.add(name, "text", body.encode())
        ingest(database, stored.sha256)
        ids[name] = stored.id
    embed_everything(database)
    return ids


def test_meaning_finds_what_keywords_miss(database: Database, notes: dict[str, str]) -> None:
    store = DocumentStore(database, "alice")
    files = list(notes.values())
    # no word in common with the garden note: keywords find nothing, the vectors find it
    question = "How much sunlight do my plants require?"
    assert store.search(question, [notes["garden.txt"]]) == []
    best = hybrid_search(store, EMBEDDER, question, files, limit=3)
    assert best[0].file_name == "garden.txt"
    # French question, English passage; English question, French passage
    assert hybrid_search(store, EMBEDDER, "Quand ferme le port ?", files)[0].file_name == (
        "harbour.txt"
    )
    assert hybrid_search(store, EMBEDDER, "Who relit the lighthouse lamp?", files)[0].file_name == (
        "phare.txt"
    )
    assert hybrid_search(store, EMBEDDER, "What is E15?", files)[0].file_name == "codes.txt"


def test_keywords_alone_without_an_embedder_and_nothing_for_nothing(
    database: Database, notes: dict[str, str]
) -> None:
    store = DocumentStore(database, "alice")
    files = list(notes.values())
    found = hybrid_search(store, None, "sourdough", files)
    assert [h.file_name for h in found] == ["bakery.txt"]
    assert hybrid_search(store, EMBEDDER, "   ", files) == []
    assert hybrid_search(store, EMBEDDER, "sourdough", []) == []
    # another owner's files are not searched, by keyword or by meaning
    assert hybrid_search(DocumentStore(database, "mallory"), EMBEDDER, "sourdough", files) == []
