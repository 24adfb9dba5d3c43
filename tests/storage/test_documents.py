"""Files and passages on real SQLite and Postgres: stored once per content, searched by keyword
(BM25 / ts_rank), owned, and erased for real."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from causerie.errors import NotFoundError
from causerie.retrieval.chunk import passages
from causerie.retrieval.extract import extract
from causerie.storage import ConversationStore, Database
from causerie.storage.contents import DocumentContents
from causerie.storage.documents import DocumentStore
from causerie.storage.tables import BlobRow, PassageRow

LIGHTHOUSE = (
    "The keeper of the Ar-Men lighthouse wrote the weather in his log every evening.\n\n"
    "In the winter of 1923 a storm broke the lamp; the keeper relit it with a hand lantern.\n\n"
    "Le gardien notait aussi la météo en français : « été calme, hiver rude ».\n"
)
RECIPE = "Whisk two eggs with sugar, fold in the flour, bake for twenty minutes."


def ingest(database: Database, sha: str) -> None:
    """What the ingestion job does with a stored content: read it, cut it, save the passages."""
    contents = DocumentContents(database)
    started = contents.begin(sha)
    assert started is not None
    kind, data = started
    extracted = extract(f"file.{kind}", data)
    found = list(passages(extracted.pages, target=120, overlap=20))
    contents.save_passages(sha, len(extracted.pages), found)


def count(database: Database, table: type[BlobRow] | type[PassageRow]) -> int:
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def index_rows(database: Database, word: str) -> int:
    """Passages the keyword index finds for ``word``, read from the index itself."""
    with database.reading() as connection:
        if database.is_sqlite:
            query = "SELECT count(*) FROM passages_fts WHERE passages_fts MATCH :w"
        else:
            query = "SELECT count(*) FROM passages WHERE to_tsvector('simple', text) @@ to_tsquery('simple', :w)"
        return int(connection.execute(text(query), {"w": word}).scalar() or 0)


def test_a_file_is_searchable_once_read_and_hits_point_at_the_passage(database: Database) -> None:
    store = DocumentStore(database, "alice")
    stored = store.add("lighthouse.txt", "text", LIGHTHOUSE.encode())
    recipe = store.add("recipe.md", "markdown", RECIPE.encode())
    assert stored.status == "pending" and stored.size == len(LIGHTHOUSE.encode())
    ingest(database, stored.sha256)
    ingest(database, recipe.sha256)
    assert store.get(stored.id).status == "searchable"

    hits = store.search("What broke the lamp in the storm?", [stored.id, recipe.id])
    assert hits and hits[0].file_id == stored.id and hits[0].file_name == "lighthouse.txt"
    assert "storm broke the lamp" in hits[0].text
    assert LIGHTHOUSE[hits[0].start : hits[0].end] == hits[0].text  # offsets in the page
    # the recipe shares only "the" and "in" with the question: words too common to count
    assert recipe.id not in [hit.file_id for hit in hits]
    assert store.search("the in", [recipe.id])  # unless the question holds nothing else
    # accents folded on SQLite's index; the 'simple' configuration matches the word as written
    assert store.search("météo", [stored.id])
    # only the files asked for are searched
    assert store.search("lamp", [recipe.id]) == []
    assert store.search("???", [stored.id]) == [] and store.search("lamp", []) == []


def test_the_same_bytes_are_stored_once_and_read_once(database: Database) -> None:
    alice, bob = DocumentStore(database, "alice"), DocumentStore(database, "bob")
    first = alice.add("a.txt", "text", LIGHTHOUSE.encode())
    ingest(database, first.sha256)
    again = alice.add("copy of a.txt", "text", LIGHTHOUSE.encode())
    theirs = bob.add("b.txt", "text", LIGHTHOUSE.encode())
    assert first.sha256 == again.sha256 == theirs.sha256
    assert count(database, BlobRow) == 1
    assert again.status == "searchable"  # the text read for the first upload serves the second
    # one hit per passage, though alice holds the content twice
    hits = alice.search("keeper lighthouse", [first.id, again.id])
    assert len({h.position for h in hits}) == len(hits)


def test_a_strangers_file_is_not_found(database: Database) -> None:
    alice, mallory = DocumentStore(database, "alice"), DocumentStore(database, "mallory")
    stored = alice.add("secret.txt", "text", b"canary-4417 is the vault code")
    ingest(database, stored.sha256)
    for attempt in (mallory.get, mallory.content, mallory.delete):
        with pytest.raises(NotFoundError):
            attempt(stored.id)
    assert mallory.search("canary", [stored.id]) == []
    assert mallory.files() == []
    assert alice.content(stored.id) == ("secret.txt", b"canary-4417 is the vault code")


def test_deleting_the_last_file_erases_bytes_passages_and_index(database: Database) -> None:
    store = DocumentStore(database, "alice")
    one = store.add("one.txt", "text", b"canary-7781 lives in this passage")
    two = store.add("two.txt", "text", b"canary-7781 lives in this passage")
    ingest(database, one.sha256)
    assert index_rows(database, "canary") == 1
    store.delete(one.id)
    assert store.search("canary", [two.id])  # the other upload still holds the content
    store.delete(two.id)
    assert count(database, BlobRow) == 0 and count(database, PassageRow) == 0
    assert index_rows(database, "canary") == 0
    with pytest.raises(NotFoundError):
        store.get(two.id)


def test_files_attach_to_a_conversation_and_go_with_it(database: Database) -> None:
    conversations = ConversationStore(database, "alice")
    chat = conversations.create(title="about the lighthouse")
    store = DocumentStore(database, "alice")
    attached = store.add("log.txt", "text", LIGHTHOUSE.encode(), conversation_id=chat)
    secret = store.add("vault.txt", "text", b"canary-3391 opens the vault", conversation_id=chat)
    loose = store.add("recipe.md", "markdown", RECIPE.encode())
    for stored in (attached, secret, loose):
        ingest(database, stored.sha256)
    assert {f.id for f in store.files(conversation_id=chat)} == {attached.id, secret.id}
    assert {f.id for f in store.files()} == {attached.id, secret.id, loose.id}
    assert index_rows(database, "canary") == 1
    conversations.delete(chat)
    assert [f.id for f in store.files()] == [loose.id]
    # erased, not just unlinked: the bytes, passages and index entries of its files are gone
    assert count(database, BlobRow) == 1
    assert index_rows(database, "canary") == 0
    with database.session() as session:
        texts = session.scalars(select(PassageRow.text)).all()
    assert texts and not any("canary" in t or "lighthouse" in t for t in texts)


def test_a_text_with_nothing_to_read_and_a_failure_are_recorded(database: Database) -> None:
    store, contents = DocumentStore(database, "alice"), DocumentContents(database)
    empty = store.add("scan.pdf", "pdf", b"%PDF-empty")
    contents.save_passages(empty.sha256, 3, [])
    assert (store.get(empty.id).status, store.get(empty.id).pages) == ("no_text", 3)
    broken = store.add("broken.docx", "docx", b"PK\x03\x04broken")
    contents.fail(broken.sha256, "not a valid DOCX file")
    assert store.get(broken.id).status == "failed"
    assert store.get(broken.id).error == "not a valid DOCX file"
