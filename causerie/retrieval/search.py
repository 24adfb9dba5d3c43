"""Hybrid search over a chat's files: meaning first, keywords to break the near-ties.

Vector search finds the passages that say what the question asks, in other words or in the
other language; keyword search (BM25 on SQLite, ``ts_rank`` on Postgres) finds those that share
its words, names, codes and numbers. The two are combined by a weighted sum of their scores
(a convex combination, which Bruch, Gai and Ingber found better than rank fusion in "An
Analysis of Fusion Functions for Hybrid Retrieval", ACM TOIS 2023): the cosine similarity, and
the keyword score divided by the question's best one, weighted ``KEYWORD_WEIGHT``.

Measured on the French/English set of ``benchmarks/retrieval.py`` (docs/documents.md), rank
fusion (``fuse``: 1/(60 + rank) summed, Cormack et al., SIGIR 2009) let keyword hits on a
question's incidental words push the right passage out of the first five for a third of the
questions asked in the other language (Recall@5 0.66 against 0.97 for vectors alone); the
weighted sum keeps what each finds (Recall@5 0.97 over all questions, 1.00 on those that name
an identifier, MRR 0.87).

A passage not embedded yet (its file is being embedded) competes by its keywords, with the
lowest similarity among the vector hits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol

from causerie.retrieval.embed import Embedder
from causerie.types import PassageHit

RRF_K = 60
CANDIDATES = 50  # taken from each ranking before they are combined
KEYWORD_WEIGHT = 0.1


class PassageSearch(Protocol):
    """One owner's passages (``storage.documents.DocumentStore``)."""

    def search(self, query: str, file_ids: Sequence[str], limit: int = 20) -> list[PassageHit]: ...

    def similar(
        self, vector: Sequence[float], file_ids: Sequence[str], limit: int = 20
    ) -> list[PassageHit]: ...


def fuse(rankings: Sequence[Sequence[PassageHit]], limit: int, k: int = RRF_K) -> list[PassageHit]:
    """The passages of ``rankings`` (each best first) by reciprocal rank fusion, best first
    (``benchmarks/retrieval.py`` compares it with ``combine``);
    each hit's ``score`` becomes minus its fused score (lower is better, as in every ranking).
    Ties keep the order of the first ranking that has them."""
    fused: dict[tuple[str, int], float] = {}
    first: dict[tuple[str, int], PassageHit] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, start=1):
            fused[hit.key] = fused.get(hit.key, 0.0) + 1.0 / (k + rank)
            first.setdefault(hit.key, hit)
    best = sorted(fused, key=lambda key: -fused[key])[:limit]
    return [dataclasses.replace(first[key], score=-fused[key]) for key in best]


def combine(
    keyword: Sequence[PassageHit],
    similar: Sequence[PassageHit],
    limit: int,
    weight: float = KEYWORD_WEIGHT,
) -> list[PassageHit]:
    """Keyword hits (scores: lower is better, negative) and vector hits (cosine distances),
    best first by ``(1 - weight) * similarity + weight * keyword score / best keyword score``;
    each hit's ``score`` becomes minus that (lower is better)."""
    best = min((hit.score for hit in keyword), default=0.0)
    floor = 1.0 - max((hit.score for hit in similar), default=1.0)  # the lowest similarity
    similarity = {hit.key: 1.0 - hit.score for hit in similar}
    matched = {hit.key: (hit.score / best if best < 0 else 0.0) for hit in keyword}
    first: dict[tuple[str, int], PassageHit] = {}
    for hit in [*similar, *keyword]:
        first.setdefault(hit.key, hit)
    scores = {
        key: (1 - weight) * similarity.get(key, floor) + weight * matched.get(key, 0.0)
        for key in first
    }
    best_keys = sorted(scores, key=lambda key: -scores[key])[:limit]
    return [dataclasses.replace(first[key], score=-scores[key]) for key in best_keys]


def hybrid_search(
    store: PassageSearch,
    embedder: Embedder | None,
    question: str,
    file_ids: Sequence[str],
    limit: int = 8,
) -> list[PassageHit]:
    """The ``limit`` passages of ``file_ids`` that best answer ``question``: vector and keyword
    scores combined; keywords alone without an embedder (or before any passage is embedded)."""
    if not file_ids or not question.strip():
        return []
    keyword = store.search(question, file_ids, CANDIDATES)
    if embedder is None:
        return keyword[:limit]
    vector = embedder.embed([question])[0]
    return combine(keyword, store.similar(vector.tolist(), file_ids, CANDIDATES), limit)
