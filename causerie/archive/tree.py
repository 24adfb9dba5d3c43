"""The neutral conversation tree every reader yields, whatever the format it read.

A conversation is a tree of nodes linked by ``parent_id``; ``current_leaf_id`` is the leaf of
the branch that was on screen. Nodes come parents first, so a writer can insert them in order.
Ids are the source's own, unique within one conversation only (ChatGPT's ``client-created-root``
recurs in every conversation). Times are aware UTC datetimes; a node whose source had no time
carries its parent's (or the conversation's), so every node has one.

What a node holds, by the kind of source node:

* a chat message: ``role`` user or assistant, its ``text``, ``attachments``;
* a hidden node (``hidden`` names why: a system prompt, the custom instructions, a node the
  source never showed, an empty root): kept in the tree, never shown as a message;
* a tool call: an assistant node with ``tool_calls`` (code as ``{"code": ...}``); its output
  is a ``tool`` node whose ``tool_call_id`` names the call;
* reasoning: ``reasoning`` on the reply it led to, never in its ``text``.

Causerie's own archive carries more, all of it optional for the other readers: a node's
feedback, redactions, sources and usage, the id it had in the export it first came from
(``origin_id``); a conversation's settings, project, share links and where it was imported
from (``provenance``); the account's preferences and projects (``ArchivedAccount``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, Literal, Protocol

from causerie.types import Project, Reasoning, Redactions, Role, Source, ToolCall

__all__ = [
    "ArchivedAccount",
    "ArchivedShare",
    "CustomInstructions",
    "Feedback",
    "ExportReader",
    "HiddenReason",
    "ImportedAttachment",
    "ImportedConversation",
    "ImportedNode",
    "Provenance",
    "ReadItem",
    "Reasoning",  # causerie.types.Reasoning: the same type storage keeps
    "Skipped",
    "SourceFormat",
    "Status",
]

SourceFormat = Literal["chatgpt", "openwebui", "causerie"]

HiddenReason = Literal[
    "system",  # a system prompt: the source never showed it
    "user_editable_context",  # the custom instructions (kept on the conversation instead)
    "visually_hidden",  # the source marked it hidden from the conversation
    "empty",  # no message at all (ChatGPT's roots)
    "unknown_role",  # an author role Causerie has no place for
]

Status = Literal["complete", "interrupted"]


@dataclass(frozen=True, slots=True)
class ImportedAttachment:
    """A file a message carried. ``in_archive``: its bytes came with the export and ``open()``
    reads them (lazily, from the zip or an inline data URL); otherwise only the reference
    survives and a reader of the conversation should say the file is missing."""

    asset_id: str
    name: str
    mime_type: str | None = None
    size: int | None = None
    width: int | None = None
    height: int | None = None
    location: str | None = None  # the zip member holding the bytes, when there is one
    missing: str | None = None  # why the source had no bytes (Causerie archives)
    opener: Callable[[], IO[bytes]] | None = field(default=None, compare=False, repr=False)

    @property
    def in_archive(self) -> bool:
        return self.opener is not None

    @property
    def is_image(self) -> bool:
        return (self.mime_type or "").startswith("image/")

    def open(self) -> IO[bytes]:
        """The file's bytes; only while the export it came from is open."""
        if self.opener is None:
            raise FileNotFoundError(f"{self.name}: the export does not contain this file")
        return self.opener()


@dataclass(frozen=True, slots=True)
class CustomInstructions:
    """The user's custom instructions found in a conversation: ``about_user`` (what the model
    should know about them) and ``response_style`` (how it should answer)."""

    about_user: str = ""
    response_style: str = ""

    def as_text(self) -> str:
        """Both parts as one text, the shape of Causerie's own custom instructions."""
        return "\n\n".join(part for part in (self.about_user, self.response_style) if part)


@dataclass(frozen=True, slots=True)
class Feedback:
    """Thumbs up (``rating`` 1) or down (-1) on a reply, or neither (None), and a comment."""

    rating: int | None = None
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class ArchivedShare:
    """A read-only link to a conversation: its token, the title and messages it froze
    (``{"role", "content"}`` each), when it was made and revoked (None: live)."""

    token: str
    title: str
    messages: tuple[dict[str, Any], ...]
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a conversation in a Causerie archive had been imported from: the format and its
    id there, what that export said last (``seen``), when, and its custom instructions."""

    source: str
    external_id: str
    seen: dict[str, Any]
    imported_at: datetime
    custom_instructions: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class ArchivedAccount:
    """What a Causerie archive holds of the account itself: ``username`` (None: the local
    user of a server without accounts), its named preferences (custom instructions, private
    names...) and its projects."""

    username: str | None
    preferences: dict[str, str] = field(default_factory=dict)
    projects: tuple[Project, ...] = ()


@dataclass(frozen=True, slots=True)
class ImportedNode:
    """One node of the tree. ``content_type`` is the source's name for what it held
    (``text``, ``code``, ``execution_output``, ``thoughts``...), kept for the record;
    ``absorbed_ids`` are source nodes folded into this one (reasoning steps before a reply)."""

    id: str
    parent_id: str | None
    role: Role
    text: str
    created_at: datetime
    model: str | None = None
    status: Status = "complete"
    hidden: HiddenReason | None = None
    content_type: str = "text"
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    tool_name: str | None = None
    reasoning: Reasoning | None = None
    attachments: tuple[ImportedAttachment, ...] = ()
    absorbed_ids: tuple[str, ...] = ()
    origin_id: str | None = None  # its id in the export it first came from (archives)
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    feedback: Feedback | None = None
    redactions: Redactions | None = None
    sources: tuple[Source, ...] = ()


@dataclass(frozen=True, slots=True)
class ImportedConversation:
    """One conversation, whole: every branch, the selected leaf, its flags. ``title`` is None
    when the source had none (a later layer names it); ``model`` the conversation's default."""

    source: SourceFormat
    external_id: str
    title: str | None
    created_at: datetime
    updated_at: datetime
    nodes: tuple[ImportedNode, ...]
    current_leaf_id: str | None
    model: str | None = None
    archived: bool = False
    pinned: bool = False
    custom_instructions: CustomInstructions | None = None
    tags: tuple[str, ...] = ()
    via: str | None = None  # Causerie archives: where it was made (web, api, cli, import)
    settings: dict[str, Any] | None = None  # its own chat settings (Causerie archives)
    project_id: str | None = None  # one of ``ArchivedAccount.projects``
    shares: tuple[ArchivedShare, ...] = ()
    provenance: Provenance | None = None

    def node(self, node_id: str) -> ImportedNode:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def branch(self, leaf_id: str | None = None) -> list[ImportedNode]:
        """The nodes from the root down to ``leaf_id`` (the selected leaf by default)."""
        by_id = {node.id: node for node in self.nodes}
        path: list[ImportedNode] = []
        cursor = leaf_id if leaf_id is not None else self.current_leaf_id
        while cursor is not None:
            node = by_id[cursor]
            path.append(node)
            cursor = node.parent_id
        return path[::-1]

    def children(self, node_id: str | None) -> list[ImportedNode]:
        return [node for node in self.nodes if node.parent_id == node_id]


@dataclass(frozen=True, slots=True)
class Skipped:
    """A conversation that could not be read: where it was (``index`` in its file, and
    ``file``), its id and title when they could be told, and why."""

    index: int
    reason: str
    external_id: str | None = None
    title: str | None = None
    file: str = ""


ReadItem = ImportedConversation | Skipped


class ExportReader(Protocol):
    """An opened export: ``total`` items to come (conversations and skipped ones), notes about
    the export as a whole in ``warnings``, then the items themselves, one at a time."""

    source: SourceFormat
    total: int
    warnings: tuple[str, ...]
    account: ArchivedAccount | None  # Causerie archives: preferences and projects

    def __iter__(self) -> Iterator[ReadItem]: ...

    def close(self) -> None: ...

    def __enter__(self) -> ExportReader: ...

    def __exit__(self, *_: object) -> None: ...
