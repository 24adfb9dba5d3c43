"""Importing an opened export into one owner's conversations, with a summary of what it did.

    summary = run_import(path, ImportStore(db, owner), progress)  # ImportSummary

or, with an export already open (``open_export`` refuses a bad upload before any write),
``Importer(store).run(export, progress)``.

Conversations are written in batches (``batch_size`` conversations, one transaction each), so
that a large import holds little in memory and never keeps SQLite's single writer for long:
the chats of everyone else go on meanwhile. Atomicity comes from the journal instead of one
long transaction: every bad input the readers can tell (not a zip, truncated, invalid JSON,
unsafe names, a zip bomb, the wrong shape) is refused by ``open_export`` before the first
write, and if anything fails once writing has begun, what this import wrote is taken back
(``ImportStore.undo``) before the error goes on. Importing is idempotent, so running it again
after a crash finishes the job without duplicating anything.

A conversation the reader could not read, or one the database refuses while the rest of its
batch is fine, is skipped with its reason; the others are imported.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from causerie.archive import ExportReader, ImportedConversation, Skipped, ZipLimits, open_export
from causerie.archive.tree import ArchivedAccount
from causerie.archive.zipsafe import Upload
from causerie.chat.import_drafts import conversation_draft
from causerie.storage.imports import ConversationDraft, ImportJournal, ImportStore, Written
from causerie.storage.preferences import CUSTOM_INSTRUCTIONS

__all__ = ["ImportSummary", "Importer", "Progress", "SkippedConversation", "run_import"]

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called with (conversations done, conversations in the export) as the import goes."""

BATCH_SIZE = 50
BATCH_NODES = 5_000  # a batch of few but long conversations is written sooner
MAX_ATTACHMENT_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SkippedConversation:
    """A conversation left out, and why; ``where`` is its file and position in the export."""

    reason: str
    external_id: str | None = None
    title: str | None = None
    where: str = ""


@dataclass(slots=True)
class ImportSummary:
    """What an import did. ``created`` conversations are new, ``updated`` ones were imported
    before and gained messages or changes, ``unchanged`` ones were already there as they are;
    ``messages`` and ``hidden`` count the new messages shown and kept hidden; attachments
    stored with their bytes or kept as a placeholder (``missing``). ``custom_instructions``
    are the distinct ones found (offered to the user, never turned into a message)."""

    source: str
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    messages: int = 0
    hidden: int = 0
    attachments_stored: int = 0
    attachments_missing: int = 0
    skipped: list[SkippedConversation] = field(default_factory=list)
    custom_instructions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def imported(self) -> int:
        """Conversations created or changed by this import."""
        return self.created + self.updated

    def count(self, written: Written) -> None:
        if written.created:
            self.created += 1
        elif written.changed:
            self.updated += 1
        else:
            self.unchanged += 1
        self.messages += written.messages
        self.hidden += written.hidden
        self.attachments_stored += written.attachments_stored
        self.attachments_missing += written.attachments_missing


def run_import(
    upload: Upload,
    store: ImportStore,
    progress: Progress | None = None,
    *,
    limits: ZipLimits | None = None,
    max_attachment_bytes: int = MAX_ATTACHMENT_BYTES,
    account: str | None = None,
) -> ImportSummary:
    """Open ``upload`` (a path or a seekable binary stream), import it into ``store``'s
    owner's conversations, and close it. A bad upload raises ``ImportFormatError`` with
    nothing written. ``account``: which account of a Causerie archive of several."""
    with open_export(upload, limits, account=account) as export:
        return Importer(store, max_attachment_bytes=max_attachment_bytes).run(export, progress)


class Importer:
    """Writes an export's conversations through ``store`` (one owner's)."""

    def __init__(
        self,
        store: ImportStore,
        *,
        batch_size: int = BATCH_SIZE,
        max_attachment_bytes: int = MAX_ATTACHMENT_BYTES,
    ) -> None:
        self._store = store
        self._batch_size = batch_size
        self._max_attachment_bytes = max_attachment_bytes
        self._projects: dict[str, str] = {}
        self._shares_taken = 0  # share links not restored: another conversation holds them

    def run(self, export: ExportReader, progress: Progress | None = None) -> ImportSummary:
        """Import every conversation of ``export``; on any error, undo what was written and
        raise it."""
        summary = ImportSummary(export.source, export.total, warnings=list(export.warnings))
        report = progress or (lambda done, total: None)
        journal = ImportJournal()
        self._shares_taken = 0
        batch: list[ConversationDraft] = []
        done = 0
        report(0, export.total)
        try:
            if export.account is not None:
                self._restore_account(export.account, journal, summary)
            for item in export:
                done += 1
                if isinstance(item, Skipped):
                    where = f"{item.file} #{item.index + 1}" if item.file else f"#{item.index + 1}"
                    summary.skipped.append(
                        SkippedConversation(item.reason, item.external_id, item.title, where)
                    )
                    continue
                batch.append(self._draft(item, summary))
                if len(batch) >= self._batch_size or _nodes(batch) >= BATCH_NODES:
                    self._write(batch, journal, summary)
                    batch = []
                    report(done, export.total)
            self._write(batch, journal, summary)
        except BaseException:
            self._undo(journal)
            raise
        if self._shares_taken:
            summary.warnings.append(
                f"{self._shares_taken} share links were not restored: another conversation "
                "already holds their token (a link points at one conversation only)."
            )
        report(export.total, export.total)
        return summary

    def _draft(
        self, conversation: ImportedConversation, summary: ImportSummary
    ) -> ConversationDraft:
        instructions = conversation.custom_instructions
        text = instructions.as_text() if instructions else ""
        if text and text not in summary.custom_instructions:
            summary.custom_instructions.append(text)
        return conversation_draft(conversation, self._max_attachment_bytes, self._projects)

    def _restore_account(
        self, account: ArchivedAccount, journal: ImportJournal, summary: ImportSummary
    ) -> None:
        """A Causerie archive's preferences (those the owner has not set) and projects,
        before its conversations, in the journal (a failure takes them back too); the
        archive's custom instructions, when the owner's differ, are listed with those
        found."""
        kept, self._projects = self._store.restore_account(
            account.preferences, account.projects, journal
        )
        if CUSTOM_INSTRUCTIONS in kept:
            summary.custom_instructions.append(account.preferences[CUSTOM_INSTRUCTIONS])
        others = [name for name in kept if name != CUSTOM_INSTRUCTIONS]
        if others:
            summary.warnings.append(
                f"The archive's preferences {', '.join(others)} were not restored: this account "
                "had set them otherwise, and keeps its own."
            )

    def _write(
        self, batch: Sequence[ConversationDraft], journal: ImportJournal, summary: ImportSummary
    ) -> None:
        """One transaction for the batch; when the database refuses it, each conversation
        alone, skipping those refused. When none goes in alone either, the database is at
        fault, not the conversations: the error goes on."""
        if not batch:
            return
        try:
            for written in self._store.write(batch, journal):
                self._count(written, summary)
            return
        except Exception as exc:
            if len(batch) == 1:
                raise
            failure = exc
        refused: list[tuple[ConversationDraft, Exception]] = []
        for draft in batch:
            try:
                self._count(self._store.write([draft], journal)[0], summary)
            except Exception as refusal:
                refused.append((draft, refusal))
        if len(refused) == len(batch):
            raise failure
        for draft, error in refused:
            log.warning("import: conversation %s refused: %s", draft.external_id, error)
            summary.skipped.append(
                SkippedConversation(
                    f"the database refused it ({type(error).__name__})",
                    draft.external_id,
                    draft.title,
                )
            )

    def _count(self, written: Written, summary: ImportSummary) -> None:
        summary.count(written)
        self._shares_taken += written.shares_taken

    def _undo(self, journal: ImportJournal) -> None:
        try:
            self._store.undo(journal)
        except Exception:  # the original error matters more; this one is logged
            log.exception("import: undoing a failed import failed too")


def _nodes(batch: Sequence[ConversationDraft]) -> int:
    return sum(len(draft.nodes) for draft in batch)
