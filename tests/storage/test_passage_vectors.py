"""Passage vectors on real SQLite (sqlite-vec) and Postgres (``real[]``): stored with progress,
ranked by cosine distance within the files asked for, replaced when the model changes, and
erased with their content."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import func, select

from causerie.storage import Database
from causerie.storage.contents import DocumentContents
from causerie.storage.documents import DocumentStore
from causerie.storage.tables import BlobRow, PassageRow, PassageVectorRow
from tests.storage.test_documents import LIGHTHOUSE, RECIPE, ingest


def unit(*values: float) -> list[float]:
    norm = math.sqrt(sum(v * v for v in values))
    return [v / norm for v in values]


def embed_all(database: Database, sha: str, model: str = "m1") -> list[int]:
    """Give each passage of ``sha`` the vector (1, position, 0, 0) normalised; their ids."""
    contents = DocumentContents(database)
    todo = contents.next_to_embed(sha, 1000)
    with database.session() as session:
        positions = dict(
            session.execute(
                select(PassageRow.id, PassageRow.position).where(PassageRow.blob_sha == sha)
            ).all()
        )
    contents.save_vectors(sha, model, [(pid, unit(1, positions[pid], 0, 0)) for pid, _ in todo])
    return [pid for pid, _ in todo]


def vectors(database: Database) -> int:
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(PassageVectorRow)) or 0)


def test_vectors_fill_in_batch_by_batch_and_the_content_becomes_ready(database: Database) -> None:
    store, contents = DocumentStore(database, "alice"), DocumentContents(database)
    stored = store.add("log.txt", "text", LIGHTHOUSE.encode())
    ingest(database, stored.sha256)
    searchable = store.get(stored.id)
    assert searchable.status == "searchable" and searchable.passages >= 3
    assert contents.unembedded() == [stored.sha256]

    first = contents.next_to_embed(stored.sha256, 2)
    assert len(first) == 2 and store.get(stored.id).status == "embedding"
    contents.save_vectors(stored.sha256, "m1", [(pid, unit(1, 0, 0, 0)) for pid, _ in first])
    progress = store.get(stored.id)
    assert (progress.status, progress.embedded) == ("embedding", 2)
    # a stop here: the next run starts at the first passage without a vector
    rest = contents.next_to_embed(stored.sha256, 1000)
    assert {pid for pid, _ in rest}.isdisjoint(pid for pid, _ in first)
    contents.save_vectors(stored.sha256, "m1", [(pid, unit(0, 1, 0, 0)) for pid, _ in rest])
    done = store.get(stored.id)
    assert (done.status, done.embedded) == ("ready", done.passages)
    assert contents.unembedded() == []
    assert contents.next_to_embed(stored.sha256, 10) == []


def test_nearest_passages_first_within_the_files_asked_for(database: Database) -> None:
    store = DocumentStore(database, "alice")
    log = store.add("log.txt", "text", LIGHTHOUSE.encode())
    recipe = store.add("recipe.md", "markdown", RECIPE.encode())
    for stored in (log, recipe):
        ingest(database, stored.sha256)
        embed_all(database, stored.sha256)
    # passage p has the vector (1, p, 0, 0): the query (1, 2, 0, 0) is nearest position 2
    hits = store.similar(unit(1, 2, 0, 0), [log.id])
    assert [hit.position for hit in hits][:2] == [2, 1]
    assert all(hit.file_id == log.id for hit in hits)
    assert hits[0].score == pytest.approx(0.0, abs=1e-5)  # a cosine distance
    assert [h.score for h in hits] == sorted(h.score for h in hits)
    assert LIGHTHOUSE[hits[0].start : hits[0].end] == hits[0].text
    # both files' first passages have the query's vector: they come first, the recipe's
    # only when the recipe is asked for
    both = store.similar(unit(1, 0, 0, 0), [log.id, recipe.id])
    assert {(h.file_id, h.position) for h in both[:2]} == {(log.id, 0), (recipe.id, 0)}
    assert store.similar(unit(1, 0, 0, 0), [recipe.id])[0].file_name == "recipe.md"
    # the same content uploaded twice: each passage found once
    again = store.add("copy.txt", "text", LIGHTHOUSE.encode())
    twice = store.similar(unit(1, 0, 0, 0), [log.id, again.id])
    assert len({h.position for h in twice}) == len(twice)
    assert DocumentStore(database, "mallory").similar(unit(1, 0, 0, 0), [log.id]) == []


def test_another_model_replaces_the_vectors_and_deletion_erases_them(database: Database) -> None:
    store, contents = DocumentStore(database, "alice"), DocumentContents(database)
    stored = store.add("log.txt", "text", LIGHTHOUSE.encode())
    ingest(database, stored.sha256)
    ids = embed_all(database, stored.sha256, model="m1")
    assert vectors(database) == len(ids)
    # vectors of a passage deleted meanwhile are dropped, not stored
    ingest_again = store.add("other.txt", "text", RECIPE.encode())
    ingest(database, ingest_again.sha256)
    contents.next_to_embed(ingest_again.sha256, 10)
    contents.save_vectors(ingest_again.sha256, "m1", [(999_999, unit(1, 0, 0, 0))])
    assert store.get(ingest_again.id).embedded == 0

    with database.session() as session:  # the content is embedded again by another model
        session.get_one(BlobRow, stored.sha256).status = "embedding"
    contents.save_vectors(stored.sha256, "m2", [(ids[0], unit(0, 0, 1, 0))])
    assert store.get(stored.id).embedded == 1  # m1's vectors are gone
    store.delete(stored.id)
    store.delete(ingest_again.id)
    assert vectors(database) == 0
