"""ORM tables. Conversations are trees of messages; a conversation remembers its current leaf."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    REAL,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    false,
    true,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from causerie.types import LOCAL_OWNER as LOCAL_OWNER  # re-exported for the stores


def utcnow() -> datetime:
    return datetime.now(UTC)


API_SOURCE = "api"  # a conversation an API client's requests made (listed apart from chats)


class Base(DeclarativeBase):
    pass


class ConversationRow(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_archived_updated", "archived", "updated_at", "id"),
        Index("ix_conversations_owner_archived_updated", "owner_id", "archived", "updated_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(36), default=LOCAL_OWNER)
    title: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(
        String(16), default="web"
    )  # web | API_SOURCE | cli | import
    model: Mapped[str] = mapped_column(String(200), default="")
    current_leaf_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    settings: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON chat settings
    project_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("projects.id", ondelete="CASCADE"), nullable=True, index=True
    )
    # JSON: what the Causerie archive it was restored from under its own id said last (title,
    # flags, leaf), so a newer archive changes only what changed there
    archive_seen: Mapped[str | None] = mapped_column(Text, nullable=True)


class MessageRow(Base):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_conversation_created", "conversation_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("conversations.id", ondelete="CASCADE")
    )
    parent_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("messages.id", ondelete="CASCADE"), nullable=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    # sha256 of (parent's chain_hash, role, content[, tool calls]): a resent history maps onto
    # stored rows.
    chain_hash: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default="complete")  # complete | interrupted
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    finish_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    rating: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)  # 1 up, -1 down
    feedback_comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    # An assistant's function calls (JSON, OpenAI's shape); the call a ``tool`` message answers.
    tool_calls: Mapped[str | None] = mapped_column(Text, nullable=True)
    tool_call_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    # What the privacy firewall replaced before the request went out (JSON: provider and counts
    # by kind, never values); None when nothing was.
    redactions: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The passages of the user's files the reply was given, by citation number (JSON: file,
    # page, position; never the text); None when there were none.
    sources: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Imported messages only: the source's node id (unique within its conversation), why the
    # source never showed it (a system prompt, the custom instructions...: kept, never shown,
    # never sent to a model), and the reasoning that led to it (JSON: text, summary).
    external_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    hidden: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reasoning: Mapped[str | None] = mapped_column(Text, nullable=True)


class ConversationImportRow(Base):
    """Where an imported conversation came from: importing the same export again finds it by
    (owner, source, external id). ``seen`` is what the source said last (JSON: title, flags,
    selected leaf), so that a newer export changes only what changed there."""

    __tablename__ = "conversation_imports"
    __table_args__ = (
        Index("ux_conversation_imports_source", "owner_id", "source", "external_id", unique=True),
    )

    conversation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    owner_id: Mapped[str] = mapped_column(String(36))
    source: Mapped[str] = mapped_column(String(16))  # chatgpt | openwebui | causerie
    external_id: Mapped[str] = mapped_column(String(200))
    # The custom instructions the export held (JSON: about_user, response_style): kept with
    # the conversation, never a message.
    custom_instructions: Mapped[str | None] = mapped_column(Text, nullable=True)
    seen: Mapped[str] = mapped_column(Text)
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AttachmentRow(Base):
    """A file an imported message carried: its bytes when the export held them, else why not
    (``missing``: ``not_in_export``, ``too_large``, ``unreadable``), for a placeholder."""

    __tablename__ = "message_attachments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    message_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255))
    mime_type: Mapped[str | None] = mapped_column(String(255), nullable=True)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    data: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    missing: Mapped[str | None] = mapped_column(String(32), nullable=True)


class ShareRow(Base):
    """A read-only link to a snapshot of one branch; revoking keeps the row, hides the page."""

    __tablename__ = "shares"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    snapshot: Mapped[str] = mapped_column(Text)  # JSON list of {role, content, created_at}
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ResponseRow(Base):
    """A stored ``/v1/responses`` answer: the response object as it was returned, and where its
    reply is in the conversation it continued (``previous_response_id`` goes on from there)."""

    __tablename__ = "responses"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(36), index=True)
    conversation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    reply_id: Mapped[str] = mapped_column(String(36))  # the reply's message
    body: Mapped[str] = mapped_column(Text)  # the response object, JSON
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PreferenceRow(Base):
    """A named preference of one owner, such as their custom instructions."""

    __tablename__ = "user_preferences"

    owner_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class UserRow(Base):
    """An account. ``models`` is a JSON list of allowed model names (None: the group's, or all);
    a limit of None means the site default."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default="user")  # admin | user
    status: Mapped[str] = mapped_column(String(16), default="active")  # active|pending|disabled
    group_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    models: Mapped[str | None] = mapped_column(Text, nullable=True)
    tokens_per_day: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    requests_per_minute: Mapped[int | None] = mapped_column(Integer, nullable=True)
    concurrent_requests: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class GroupRow(Base):
    """A named set of users sharing a model restriction (JSON list; None: every model) and,
    when set, a retention period of its own (days; 0: kept forever; None: the site's)."""

    __tablename__ = "user_groups"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    models: Mapped[str | None] = mapped_column(Text, nullable=True)
    retention_days: Mapped[int | None] = mapped_column(Integer, nullable=True)


class SessionRow(Base):
    """A signed-in browser. Only the token's sha256 is stored."""

    __tablename__ = "sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApiKeyRow(Base):
    """An API key: ``csk-<id>-<secret>``; the id is public, only the secret's sha256 is kept."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Whether a request that does not say `store` is kept as a conversation.
    store_default: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class InviteRow(Base):
    """A sign-up invitation link; used once."""

    __tablename__ = "invites"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_by: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_by: Mapped[str | None] = mapped_column(String(36), nullable=True)


class UsageRow(Base):
    """Exact usage counters, one row per (day, user, key, model); ``key_id`` "" is the page."""

    __tablename__ = "usage"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cached_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0)


class RateWindowRow(Base):
    """Requests a user started in one minute (requests-per-minute limit, exact across replicas)."""

    __tablename__ = "rate_windows"

    user_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # unix time // 60
    requests: Mapped[int] = mapped_column(Integer, default=0)


class LeaseRow(Base):
    """A request in flight (concurrency limit); expires if its replica died."""

    __tablename__ = "leases"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditRow(Base):
    """An admin action or a sign-in attempt."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_action_at", "action", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))  # a username, or "cli"
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(200), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[str] = mapped_column(Text, default="")


class SiteSettingRow(Base):
    """A setting of the whole site chosen by an admin, such as the sign-up policy."""

    __tablename__ = "site_settings"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class BlobRow(Base):
    """An uploaded file's bytes, stored once whoever uploads them, and what was read from them
    (the text is the same for every upload of the same bytes)."""

    __tablename__ = "file_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    kind: Mapped[str] = mapped_column(String(16))  # pdf | docx | html | markdown | text | ...
    # pending -> extracting -> searchable -> embedding -> ready; or no_text | failed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    passage_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    embedded: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    embedding_model: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FileRow(Base):
    """One upload: whose, under which name, attached to which conversation."""

    __tablename__ = "files"
    __table_args__ = (Index("ix_files_owner_conversation", "owner_id", "conversation_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(36))
    blob_sha: Mapped[str] = mapped_column(
        String(64), ForeignKey("file_blobs.sha256", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    conversation_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=True
    )
    project_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("projects.id", ondelete="CASCADE"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ProjectRow(Base):
    """Chats and files that belong together, and the instructions their chats follow."""

    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(36), index=True)
    name: Mapped[str] = mapped_column(String(200))
    instructions: Mapped[str] = mapped_column(Text, default="", server_default="")
    archived: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Its chats never reach an external provider (the privacy firewall refuses them).
    local_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PassageRow(Base):
    """A passage of a file's text, within one page (``start_offset``..``end_offset`` of it)."""

    __tablename__ = "passages"
    __table_args__ = (Index("ix_passages_blob_position", "blob_sha", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    blob_sha: Mapped[str] = mapped_column(
        String(64), ForeignKey("file_blobs.sha256", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)  # order in the document, from 0
    page: Mapped[int | None] = mapped_column(Integer, nullable=True)
    start_offset: Mapped[int] = mapped_column(Integer)
    end_offset: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)


class PassageVectorRow(Base):
    """A passage's embedding: sqlite-vec's float32 blob on SQLite, ``real[]`` on Postgres."""

    __tablename__ = "passage_vectors"

    passage_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("passages.id", ondelete="CASCADE"), primary_key=True
    )
    blob_sha: Mapped[str] = mapped_column(
        String(64), ForeignKey("file_blobs.sha256", ondelete="CASCADE"), index=True
    )
    embedding: Mapped[Any] = mapped_column(
        LargeBinary().with_variant(postgresql.ARRAY(REAL()), "postgresql")
    )


class ImportJobRow(Base):
    """An export uploaded through ``POST /api/imports``: its state, progress and summary, so
    that any replica answers ``GET /api/imports/{id}``. ``updated_at`` moves with the work: a
    job left queued or running that no longer moves was lost with its server."""

    __tablename__ = "import_jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(36), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16))  # queued | running | done | failed
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    summary: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
