"""What the templates show: stored rows turned into view objects (SQL and rendering happen here,
in a worker thread, never in the event loop)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import nh3
from markupsafe import Markup

from causerie.privacy.redact import KINDS
from causerie.storage.attachments import StoredAttachment
from causerie.storage.conversations import ConversationSummary, StoredMessage
from causerie.storage.listing import ConversationListing, as_utc
from causerie.storage.search import MARK_END, MARK_START, SearchHit
from causerie.storage.shares import Share
from causerie.storage.tree import MessageTree, ThreadMessage
from causerie.types import Reasoning, Redactions, Source
from causerie.web.render import render_markdown

SIDEBAR_PAGE = 50
THREAD_WINDOW = 60  # messages rendered when a conversation opens
ARCHIVE_PAGE = 50
SHOWN_ROLES = ("user", "assistant", "tool")  # hidden messages never; system ones neither


@dataclass(frozen=True, slots=True)
class ReasoningView:
    """What the model thought before its reply, shown collapsed under its ``summary``."""

    summary: str  # "Thought for 12s"; "" when the source gave none (the page says "Thoughts")
    html: Markup

    @classmethod
    def of(cls, reasoning: Reasoning | None) -> ReasoningView | None:
        if reasoning is None or not (reasoning.text.strip() or reasoning.summary):
            return None
        return cls(reasoning.summary or "", render_stored(reasoning.text))


@dataclass(frozen=True, slots=True)
class MessageView:
    """A message on the shown branch: assistant markdown rendered, user text escaped."""

    id: str
    role: str
    html: Markup
    source: str  # the raw text, for Copy and Edit
    parent_id: str | None
    interrupted: bool
    truncated: bool  # cut by the length limit: can be continued
    rating: int | None
    comment: str
    position: int  # 1-based among its siblings
    siblings: tuple[str, ...]
    redactions: Redactions | None = None
    sources: tuple[Source, ...] = ()  # the passages of the user's files it was given
    reasoning: ReasoningView | None = None
    attachments: tuple[StoredAttachment, ...] = ()  # an imported message's files
    tool_name: str = ""  # a tool output: the tool that answered ("" when unknown)

    @classmethod
    def of(
        cls,
        item: ThreadMessage,
        attachments: Sequence[StoredAttachment] = (),
        tool_name: str = "",
    ) -> MessageView:
        message = item.message
        if message.role == "assistant":
            html = render_stored(shown_text(message), tuple(s.number for s in message.sources))
        elif message.role == "tool":  # a tool's output (imported): markdown, as its quotes are
            html = render_stored(message.content)
        else:
            html = Markup.escape(message.content)  # shown with white-space: pre-wrap
        return cls(
            id=message.id,
            role=message.role,
            html=html,
            source=message.content,
            parent_id=message.parent_id,
            interrupted=message.status == "interrupted",
            truncated=message.finish_reason == "length",
            rating=message.rating,
            comment=message.feedback_comment or "",
            position=item.position,
            siblings=item.siblings,
            redactions=message.redactions,
            sources=message.sources,
            reasoning=ReasoningView.of(message.reasoning),
            attachments=tuple(attachments),
            tool_name=tool_name,
        )

    @property
    def previous_sibling(self) -> str | None:
        return self.siblings[self.position - 2] if self.position > 1 else None

    @property
    def next_sibling(self) -> str | None:
        return self.siblings[self.position] if self.position < len(self.siblings) else None


def privacy_note(redactions: Redactions | None, strings: Mapping[str, str]) -> str:
    """What the privacy firewall hid before a reply's request left: ``Before going to openai,
    personal data was replaced by placeholders: 2 e-mail addresses, 1 name.`` ("" if nothing)."""
    if redactions is None:
        return ""
    items = [
        f"{count} {strings[f'kind_{kind}_1' if count == 1 else f'kind_{kind}_n']}"
        for kind in KINDS
        if (count := redactions.counts.get(kind, 0))
    ]
    if not items:
        return ""
    return strings["privacy_note"].format(provider=redactions.provider, items=", ".join(items))


@lru_cache(maxsize=2048)
def shown_text(message: StoredMessage) -> str:
    """A reply's text, with the function calls it made (through the API) as a code block."""
    if not message.tool_calls:
        return message.content
    blocks = [_call_block(call.name, call.arguments) for call in message.tool_calls]
    return "\n\n".join([message.content, *blocks]).strip()


def _call_block(name: str, arguments: str) -> str:
    """One call as a fenced block: code sent to a tool (``{"code": ...}``, as imported
    ChatGPT code runs are stored) as that code under its tool's name; anything else as
    ``name(arguments)``."""
    try:
        parsed = json.loads(arguments)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(code := parsed.get("code"), str):
        language = parsed.get("language")
        tag = language if isinstance(language, str) and language.isidentifier() else ""
        fence = "~~~~" if "```" in code else "```"
        return f"{name}:\n\n{fence}{tag}\n{code}\n{fence}"
    return f"```\n{name}({arguments})\n```"


def render_stored(content: str, sources: tuple[int, ...] = ()) -> Markup:
    """A stored reply's HTML, its ``[n]`` citations checked against ``sources`` (the numbers
    of the passages it was given)."""
    return Markup(render_markdown(content, sources))


@dataclass(frozen=True, slots=True)
class ThreadPage:
    messages: tuple[MessageView, ...]
    earlier: str | None  # the first shown message's id when earlier ones exist


@dataclass(frozen=True, slots=True)
class SidebarItem:
    id: str
    title: str
    updated_at: str  # ISO 8601 UTC; the browser groups by its own calendar
    pinned: bool

    @classmethod
    def of(cls, summary: ConversationSummary) -> SidebarItem:
        stamp = as_utc(summary.updated_at).isoformat()
        return cls(summary.id, summary.title, stamp, summary.pinned)


@dataclass(frozen=True, slots=True)
class SidebarProject:
    """A project in the sidebar, its latest chats under it."""

    id: str
    name: str
    chats: list[SidebarItem]
    more: bool  # it has other chats (its page lists them all)


@dataclass(frozen=True, slots=True)
class Sidebar:
    pinned: list[SidebarItem] = field(default_factory=list)
    recent: list[SidebarItem] = field(default_factory=list)
    next_cursor: str | None = None
    projects: list[SidebarProject] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SearchResult:
    conversation_id: str
    title: str
    message_id: str | None
    snippet: Markup

    @classmethod
    def of(cls, hit: SearchHit) -> SearchResult:
        return cls(hit.conversation_id, hit.title, hit.message_id, highlight(hit.snippet))


def highlight(snippet: str) -> Markup:
    """A search snippet as HTML: the text escaped, then the match markers made ``<mark>``."""
    escaped = str(Markup.escape(" ".join(snippet.split())))
    marked = escaped.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")
    # The text itself may hold the marker characters: let nh3 balance the tags.
    return Markup(nh3.clean(marked, tags={"mark"}, attributes={}))


def load_sidebar(listing: ConversationListing, cursor: str | None = None) -> Sidebar:
    """The pinned chats, the projects with their latest chats, and a page of the other chats
    (the first page: with the pinned chats and the projects; a later one: that page alone)."""
    page = listing.page(cursor=cursor, limit=SIDEBAR_PAGE)
    pinned = listing.pinned() if cursor is None else []
    groups = listing.projects() if cursor is None else []
    return Sidebar(
        [SidebarItem.of(c) for c in pinned],
        [SidebarItem.of(c) for c in page.items],
        page.next_cursor,
        [
            SidebarProject(g.id, g.name, [SidebarItem.of(c) for c in g.chats], g.more)
            for g in groups
        ],
    )


def load_thread(
    tree: MessageTree,
    conversation_id: str,
    through: str | None = None,
    *,
    before: str | None = None,
    window: int = THREAD_WINDOW,
) -> ThreadPage:
    """The shown branch's last ``window`` messages (before ``before``, when given), so a long
    conversation opens fast; the page asks for earlier ones as the reader scrolls up. A
    ``through`` message (a search hit) is always inside the window. Imported messages come
    with their attachments, and a tool's output with the name of the tool its call named."""
    items = [
        item for item in tree.thread(conversation_id, through) if item.message.role in SHOWN_ROLES
    ]
    ids = [item.message.id for item in items]
    end = ids.index(before) if before in ids else len(items)
    start = max(0, end - window)
    if through in ids and before is None:
        start = min(start, max(0, ids.index(through) - 2))
    calls = {call.id: call.name for item in items[:end] for call in item.message.tool_calls}
    files = tree.attachments(conversation_id) if items else {}
    messages = tuple(
        MessageView.of(
            item,
            files.get(item.message.id, ()),
            calls.get(item.message.tool_call_id or "", ""),
        )
        for item in items[start:end]
    )
    return ThreadPage(messages, ids[start] if start > 0 else None)


@dataclass(frozen=True, slots=True)
class SharedView:
    role: str
    html: Markup


def shared_views(share: Share) -> tuple[SharedView, ...]:
    return tuple(
        SharedView(
            m.role,
            Markup(render_markdown(m.content))
            if m.role == "assistant"
            else Markup.escape(m.content),
        )
        for m in share.messages
    )
