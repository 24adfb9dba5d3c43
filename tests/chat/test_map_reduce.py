"""Whole-document questions over a text longer than the budget, answered by a map-reduce on the
real model (llama.cpp, in this process, with a 512-token context: a budget of 682 characters,
two of the PDFs' pages a section) and real SQLite: one note a section, each counted in the
caller's usage, the reply's sources the sections' pages; at most ``map_sections`` (3 here),
spread evenly; a text that fits, or the best passages, take no notes; a cancelled turn stops
taking them; a failed note loses one section, not the turn."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import pytest

from causerie.auth.principal import LOCAL
from causerie.auth.quotas import Quotas
from causerie.chat.files import ChatFiles
from causerie.chat.mapreduce import FAILED_NOTE, MapReduce, sections, spread
from causerie.chat.service import ChatService
from causerie.chat.turn import Turn
from causerie.config import Settings
from causerie.errors import PrivacyBlockedError, ProviderError
from causerie.providers.base import Completion
from causerie.providers.local import LocalProvider
from causerie.providers.registry import ProviderRegistry
from causerie.storage import ConversationStore, Database
from causerie.storage.conversations import StoredMessage
from causerie.storage.documents import DocumentStore
from causerie.storage.preferences import ChatSettings, Preferences
from causerie.storage.usage import UsageLedger
from causerie.types import LOCAL_OWNER, Message, PassageHit, SamplingParams, TurnContext
from tests.helpers import ENGINE_THREADS
from tests.retrieval.files import pdf_of
from tests.storage.test_documents import ingest

pytestmark = pytest.mark.anyio

CONTEXT = 512  # tokens: a budget of 682 characters
COLOURS = ["red", "blue", "green", "yellow", "purple", "orange", "white", "black"]


def page(n: int) -> str:
    """A page of 238 characters: two make a section."""
    return (
        f"Page {n} of the harbour log. On day {n} the keeper painted the boat "
        f"{COLOURS[n % len(COLOURS)]}. "
        + "The sea was calm and the gulls were loud over the quay. "
        * 3
    )


@dataclass
class Small:
    chat: ChatService
    local: LocalProvider
    database: Database
    settings: Settings

    def conversation(self, pages: int, documents: str = "auto") -> str:
        """A conversation with a PDF of ``pages`` pages attached, its text read."""
        conversation = ConversationStore(self.database).create(title="log")
        Preferences(self.database).set_chat_settings(
            conversation, ChatSettings(documents=documents)
        )
        stored = DocumentStore(self.database).add(
            "log.pdf",
            "pdf",
            pdf_of([page(n) for n in range(1, pages + 1)]),
            conversation_id=conversation,
        )
        if stored.status == "pending":  # the same pages read for another conversation: read
            ingest(self.database, stored.sha256)
        return conversation

    async def ask(self, conversation: str, question: str) -> Turn:
        return await self.chat.respond(
            conversation,
            question,
            sampling={"max_tokens": 8, "temperature": 0},
            admit=Quotas(self.database, self.settings).admitter(LOCAL),
        )

    def requests(self) -> int:
        """The completions counted in the caller's usage so far."""
        lines = UsageLedger(self.database).lines(since=date(2000, 1, 1), user_id=LOCAL_OWNER)
        return sum(line.requests for line in lines)

    def reply(self, conversation: str) -> StoredMessage:
        return ConversationStore(self.database).branch(conversation)[-1]

    def metric(self, name: str) -> float:
        return self.local.metrics.registry.get_sample_value(name) or 0.0


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[Small]:
    tmp = tmp_path_factory.mktemp("map-reduce")
    settings = Settings(
        data_dir=tmp,
        models_dir=model_dir,
        context_size=CONTEXT,
        engine_process=False,  # the scheduler on a thread: no process of its own
        threads=ENGINE_THREADS,
        map_sections=3,
    )
    database = Database(settings.resolved_database_url())
    database.migrate()
    local = LocalProvider.from_settings(settings)
    registry = ProviderRegistry()
    registry.add(local)
    try:
        chat = ChatService(registry, database, settings, ChatFiles(database, None))
        yield Small(chat, local, database, settings)
    finally:
        asyncio.run(registry.close())
        database.dispose()


def hit(n: int, text: str, file_id: str = "f") -> PassageHit:
    return PassageHit(file_id, f"{file_id}.pdf", "sha", n, n, 0, len(text), text, 0.0)


def test_sections_hold_whole_pages_of_one_file_and_spread_covers_start_to_end() -> None:
    pages = [
        hit(1, "a" * 40),
        hit(2, "b" * 40),
        hit(3, "c" * 30),
        hit(4, "d" * 250),
        hit(1, "e", "g"),
    ]
    cut = sections(pages, 100)
    assert [(s.first.page, s.last_page, s.place) for s in cut] == [
        (1, 2, "f.pdf, pages 1-2"),
        (3, 3, "f.pdf, page 3"),
        (4, 4, "f.pdf, page 4"),  # a page longer than the budget alone: in pieces
        (4, 4, "f.pdf, page 4"),
        (4, 4, "f.pdf, page 4"),
        (1, 1, "g.pdf, page 1"),  # another file, another section
    ]
    assert cut[0].text == "a" * 40 + "\n\n" + "b" * 40
    assert "".join(s.text for s in cut[2:5]) == "d" * 250
    assert all(len(s.text) <= 100 for s in cut)
    assert spread(3, 3) == [0, 1, 2]
    assert spread(7, 3) == [0, 3, 6]
    assert spread(30, 12) == [0, 2, 5, 7, 10, 13, 15, 18, 21, 23, 26, 29]


async def test_a_whole_document_longer_than_the_budget_is_answered_from_a_note_a_section(
    small: Small,
) -> None:
    conversation = small.conversation(6, documents="whole")  # 3 sections: pages 1-2, 3-4, 5-6
    before = small.requests()
    turn = await small.ask(conversation, "Which colours was the boat painted?")
    assert [(s.number, s.page) for s in turn.sources] == [(1, 1), (2, 3), (3, 5)]
    text = await turn.collect()
    assert text and turn.final is not None
    assert small.requests() - before == 3 + 1  # a note a section, then the reply
    assert turn.prompt_tokens > 0  # the reply's, once the notes were taken
    reply = small.reply(conversation)
    assert reply.status == "complete" and [s.page for s in reply.sources] == [1, 3, 5]
    assert {s.file_name for s in reply.sources} == {"log.pdf"}


async def test_a_longer_document_is_sampled_evenly_up_to_the_cap(small: Small) -> None:
    # 14 pages, 7 sections; asked for a summary in the automatic mode: 3 sections read
    conversation = small.conversation(14)
    before = small.requests()
    turn = await small.ask(conversation, "Summarise the log.")
    await turn.collect()
    assert small.requests() - before == 3 + 1
    assert [s.page for s in small.reply(conversation).sources] == [1, 7, 13]


async def test_a_text_that_fits_or_the_best_passages_take_no_notes(small: Small) -> None:
    fits = small.conversation(2, documents="whole")  # 477 characters: the whole text as it is
    before = small.requests()
    await (await small.ask(fits, "Which colours was the boat painted?")).collect()
    assert small.requests() - before == 1
    assert [s.page for s in small.reply(fits).sources] == [1, 2]

    passages = small.conversation(14, documents="passages")
    before = small.requests()
    await (await small.ask(passages, "Summarise the log.")).collect()
    assert small.requests() - before == 1
    assert 0 < len(small.reply(passages).sources) <= 6


async def test_cancelling_the_turn_stops_its_notes(small: Small) -> None:
    conversation = small.conversation(6, documents="whole")
    before = small.requests()
    turn = await small.ask(conversation, "Which colours was the boat painted?")

    async def stream() -> None:  # the page's request, cancelled when its client leaves
        async for _ in turn.stream():
            pass

    streaming = asyncio.create_task(stream())
    for _ in range(2000):  # the first note being written
        if small.metric("causerie_active_sequences"):
            break
        await asyncio.sleep(0.005)
    streaming.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await streaming
    await turn.aclose()
    for _ in range(200):  # the engine frees the sequence at its next step
        if not small.metric("causerie_active_sequences"):
            break
        await asyncio.sleep(0.01)
    generated = small.metric("causerie_generated_tokens_total")
    await asyncio.sleep(1.0)
    assert small.metric("causerie_active_sequences") == 0
    assert small.metric("causerie_generated_tokens_total") == generated  # no note started since
    assert small.requests() - before == 1 + 1  # the cut note and the turn, both counted
    assert small.reply(conversation).status == "interrupted"


async def test_a_failed_note_loses_its_section_not_the_turn(small: Small) -> None:
    pages = [replace(hit(n, page(n)), file_name="log.pdf") for n in range(1, 9)]
    cut = sections(pages, CONTEXT * 4 // 3)  # 4 sections
    read = [cut[i] for i in spread(len(cut), 3)]
    model = small.local.models()[0].id
    context = TurnContext()
    asked = 0
    given: list[Message] = []

    async def step(messages: list[Message], params: SamplingParams) -> Turn:
        nonlocal asked
        asked += 1
        if asked == 2:
            raise ProviderError("The engine stopped.")
        return Turn(await small.local.open(model, messages, params, context), model, None)

    async def reply(excerpts: Message) -> Completion:
        given.append(excerpts)
        question = Message("user", "Which colours was the boat painted?")
        params = SamplingParams(temperature=0, max_tokens=8)
        return await small.local.open(model, [excerpts, question], params, context)

    mapped = MapReduce(read, len(cut), "Which colours was the boat painted?", 682, step, reply)
    text = await Turn(mapped, model, None).collect()
    assert text and asked == 3 and mapped.failed == 1
    notes = given[0].content
    assert "They cover 3 of the text's 4 sections" in notes
    assert "[1] log.pdf, pages 1-2" in notes and "[3] log.pdf, pages 7-8" in notes
    assert f"[2] log.pdf, pages 3-4\n<<<\n{FAILED_NOTE}\n>>>" in notes


async def test_a_refused_first_note_stops_the_turn_and_no_notes_no_answer() -> None:
    """``begin`` opens the first note before the turn stores anything, so a refusal there is
    the turn's (nothing stored); when every note fails, the turn fails with the last reason
    rather than answer from nothing."""
    pages = [replace(hit(n, page(n)), file_name="log.pdf") for n in range(1, 5)]
    read = sections(pages, CONTEXT * 4 // 3)
    question = "Which colours was the boat painted?"

    async def refused(messages: list[Message], params: SamplingParams) -> Turn:
        raise PrivacyBlockedError("This chat's project is local only.")

    async def reply(excerpts: Message) -> Completion:
        raise AssertionError("no reply is written from failed notes")

    with pytest.raises(PrivacyBlockedError):
        await MapReduce(read, len(read), question, 682, refused, reply).begin()

    calls = 0

    async def down(messages: list[Message], params: SamplingParams) -> Turn:
        nonlocal calls
        calls += 1
        raise ProviderError("The engine stopped.")

    mapped = MapReduce(read, len(read), question, 682, down, reply)
    with pytest.raises(ProviderError):
        await Turn(mapped, "m", None).collect()
    assert calls == len(read) and mapped.failed == len(read)
