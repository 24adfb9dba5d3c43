"""Full-text search over conversation titles and messages, native to each database.

SQLite: the FTS5 tables of migration 0002 (bm25 rank, ``snippet()``/``highlight()``).
Postgres: ``to_tsvector('simple', ...)`` matched against the GIN expression indexes of the same
migration (``ts_rank``, ``ts_headline``).

The query is reduced to its words (letters and digits), so no user input is ever parsed as
search syntax; every word must match, the last one as a prefix (results while typing).
Snippets are plain text with the matched words between ``MARK_START`` and ``MARK_END``:
whoever shows them escapes the text first, then turns the markers into markup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text

from causerie.storage.db import Database
from causerie.storage.tables import LOCAL_OWNER

__all__ = ["MARK_END", "MARK_START", "SearchHit", "SearchIndex", "search_terms"]

MARK_START = "\x02"
MARK_END = "\x03"
MAX_TERMS = 8
SNIPPET_WORDS = 14

_WORD = re.compile(r"[^\W_]+", re.UNICODE)

SQLITE_TITLES = text(
    """
    SELECT c.id, c.title, c.updated_at,
           highlight(conversations_fts, 0, char(2), char(3)) AS snippet
    FROM conversations_fts JOIN conversations c ON c.rowid = conversations_fts.rowid
    WHERE conversations_fts MATCH :query AND c.owner_id = :owner
    ORDER BY rank LIMIT :limit
    """
)
SQLITE_MESSAGES = text(
    f"""
    SELECT m.conversation_id, c.title, c.updated_at, m.id,
           snippet(messages_fts, 0, char(2), char(3), '…', {SNIPPET_WORDS}) AS snippet
    FROM messages_fts
      JOIN messages m ON m.rowid = messages_fts.rowid
      JOIN conversations c ON c.id = m.conversation_id
    WHERE messages_fts MATCH :query AND m.role IN ('user', 'assistant') AND m.hidden IS NULL
      AND c.owner_id = :owner
    ORDER BY rank LIMIT :limit
    """
)
POSTGRES_OPTIONS = (
    f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords={SNIPPET_WORDS + 6}, "
    "MinWords=6, MaxFragments=1, FragmentDelimiter=…"
)
POSTGRES_TITLES = text(
    """
    SELECT c.id, c.title, c.updated_at,
           ts_headline('simple', c.title, q, 'HighlightAll=true, '
                       || 'StartSel=' || chr(2) || ', StopSel=' || chr(3)) AS snippet
    FROM conversations c, to_tsquery('simple', :query) q
    WHERE to_tsvector('simple', c.title) @@ q AND c.owner_id = :owner
    ORDER BY ts_rank(to_tsvector('simple', c.title), q) DESC, c.updated_at DESC
    LIMIT :limit
    """
)
POSTGRES_MESSAGES = text(
    """
    SELECT hit.conversation_id, c.title, c.updated_at, hit.id,
           ts_headline('simple', hit.content, q, :options) AS snippet
    FROM (
      SELECT m.id, m.conversation_id, m.content,
             ts_rank(to_tsvector('simple', m.content), q) AS score
      FROM messages m JOIN conversations mc ON mc.id = m.conversation_id,
           to_tsquery('simple', :query) q
      WHERE to_tsvector('simple', m.content) @@ q AND m.role IN ('user', 'assistant')
        AND m.hidden IS NULL AND mc.owner_id = :owner
      ORDER BY score DESC LIMIT :limit
    ) hit
    JOIN conversations c ON c.id = hit.conversation_id,
    to_tsquery('simple', :query) q
    ORDER BY hit.score DESC
    """
)


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A conversation that matched, by its title (``message_id`` None) or by one message."""

    conversation_id: str
    title: str
    updated_at: datetime
    message_id: str | None
    snippet: str  # plain text with MARK_START/MARK_END around matched words


def search_terms(query: str, limit: int = MAX_TERMS) -> list[str]:
    """The words of a query, lowercased, at most ``limit``."""
    return [word.lower() for word in _WORD.findall(query)][:limit]


class SearchIndex:
    """``search(query)``: one hit per conversation, title matches first, best first."""

    def __init__(self, db: Database, owner: str = LOCAL_OWNER) -> None:
        self._db = db
        self.owner = owner

    def search(self, query: str, limit: int = 20) -> list[SearchHit]:
        terms = search_terms(query)
        if not terms:
            return []
        if self._db.is_sqlite:
            match = " ".join(f'"{term}"' for term in terms) + "*"
            titles, messages = SQLITE_TITLES, SQLITE_MESSAGES
            extra: dict[str, object] = {}
        else:
            match = " & ".join([*terms[:-1], f"{terms[-1]}:*"])
            titles, messages = POSTGRES_TITLES, POSTGRES_MESSAGES
            extra = {"options": POSTGRES_OPTIONS}
        extra["owner"] = self.owner
        hits: dict[str, SearchHit] = {}
        with self._db.engine.connect() as connection:
            for row in connection.execute(
                titles, {"query": match, "limit": limit, "owner": self.owner}
            ):
                hits.setdefault(
                    row.id, SearchHit(row.id, row.title, _moment(row.updated_at), None, row.snippet)
                )
            rows = connection.execute(messages, {"query": match, "limit": limit * 4, **extra})
            for row in rows:
                if len(hits) >= limit:
                    break
                hits.setdefault(
                    row.conversation_id,
                    SearchHit(
                        row.conversation_id, row.title, _moment(row.updated_at), row.id, row.snippet
                    ),
                )
        return list(hits.values())[:limit]


def _moment(value: datetime | str) -> datetime:
    """Textual SQL on SQLite returns timestamps as strings."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
