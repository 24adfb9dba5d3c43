"""Chat settings: per conversation (system prompt, sampling), the user's custom instructions
and the names the user wants hidden from external providers.

All are small JSON/text values read before each turn; the chat service folds them into the
prompt (as a system message that is never stored in the tree), the sampling parameters and the
privacy firewall.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import bindparam, select

from causerie.errors import NotFoundError
from causerie.storage.conversations import owned
from causerie.storage.db import Database
from causerie.storage.tables import LOCAL_OWNER, ConversationRow, PreferenceRow, ProjectRow, utcnow

__all__ = [
    "CUSTOM_INSTRUCTIONS",
    "PRIVATE_NAMES",
    "ChatSettings",
    "Preferences",
    "TurnPreferences",
    "names_in",
]

CUSTOM_INSTRUCTIONS = "custom_instructions"
PRIVATE_NAMES = "private_names"  # one per line
MAX_PRIVATE_NAMES = 200


def names_in(text: str) -> tuple[str, ...]:
    """The names of a ``PRIVATE_NAMES`` text: one per line, trimmed, without blanks or repeats
    (names match whatever their case, so the first spelling is kept)."""
    names: dict[str, str] = {}
    for line in text.splitlines():
        if name := line.strip():
            names.setdefault(name.casefold(), name)
    return tuple(names.values())


@dataclass(frozen=True, slots=True)
class ChatSettings:
    """A conversation's own settings; None means the server's default."""

    system_prompt: str = ""
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    documents: str = "auto"  # auto | passages | whole: what of its files a turn is given

    @classmethod
    def parse(cls, raw: str | None) -> ChatSettings:
        if not raw:
            return cls()
        data: dict[str, Any] = json.loads(raw)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True, slots=True)
class TurnPreferences:
    """What a turn reads of the user's preferences, in one go."""

    settings: ChatSettings = ChatSettings()  # the conversation's own
    instructions: str = ""  # the user's custom instructions
    private_names: tuple[str, ...] = ()
    project_instructions: str = ""  # those of the conversation's project
    local_only: bool = False  # its project keeps its chats away from external providers


# Read before every turn: built once (building a statement costs a cold request more than
# running it).
TURN_SETTINGS = (
    select(ConversationRow.settings, ProjectRow.instructions, ProjectRow.local_only)
    .outerjoin(ProjectRow, ProjectRow.id == ConversationRow.project_id)
    .where(ConversationRow.id == bindparam("id"), ConversationRow.owner_id == bindparam("owner"))
)
TURN_PROJECT = select(ProjectRow.instructions, ProjectRow.local_only).where(
    ProjectRow.id == bindparam("id"), ProjectRow.owner_id == bindparam("owner")
)
TURN_PREFERENCES = select(PreferenceRow.name, PreferenceRow.value).where(
    PreferenceRow.owner_id == bindparam("owner"),
    PreferenceRow.name.in_([CUSTOM_INSTRUCTIONS, PRIVATE_NAMES]),
)


class Preferences:
    """Reads and writes conversation settings and named user preferences."""

    def __init__(self, db: Database, owner: str = LOCAL_OWNER) -> None:
        self._db = db
        self.owner = owner

    def chat_settings(self, conversation_id: str) -> ChatSettings:
        with self._db.session() as session:
            row = owned(session, conversation_id, self.owner)
            return ChatSettings.parse(row.settings)

    def set_chat_settings(self, conversation_id: str, settings: ChatSettings) -> None:
        with self._db.session() as session:
            row = owned(session, conversation_id, self.owner)
            row.settings = json.dumps(asdict(settings), ensure_ascii=False)

    def for_turn(
        self, conversation_id: str | None, project_id: str | None = None
    ) -> TurnPreferences:
        """A conversation's settings (none for a new one: the defaults) and its project's
        (``project_id``'s for a new one), the custom instructions and the private names, in one
        session."""
        with self._db.reading() as connection:  # read on every turn: Core, no ORM session
            settings, project, local_only = ChatSettings(), "", False
            if conversation_id is not None:
                stored = connection.execute(
                    TURN_SETTINGS, {"id": conversation_id, "owner": self.owner}
                ).first()
                if stored is None:  # someone else's is as absent as a missing one
                    raise NotFoundError(f"conversation {conversation_id} not found")
                settings = ChatSettings.parse(stored.settings)
                project, local_only = stored.instructions or "", bool(stored.local_only)
            elif project_id is not None:
                found = connection.execute(
                    TURN_PROJECT, {"id": project_id, "owner": self.owner}
                ).first()
                if found is None:
                    raise NotFoundError(f"project {project_id} not found")
                project, local_only = found.instructions, bool(found.local_only)
            rows = connection.execute(TURN_PREFERENCES, {"owner": self.owner})
            values = {name: value for name, value in rows}
        return TurnPreferences(
            settings,
            values.get(CUSTOM_INSTRUCTIONS, ""),
            names_in(values.get(PRIVATE_NAMES, "")),
            project,
            local_only,
        )

    def private_names(self) -> tuple[str, ...]:
        return names_in(self.get(PRIVATE_NAMES))

    def get(self, name: str) -> str:
        with self._db.session() as session:
            row = session.get(PreferenceRow, (self.owner, name))
            return row.value if row is not None else ""

    def set(self, name: str, value: str) -> None:
        with self._db.session() as session:
            row = session.get(PreferenceRow, (self.owner, name))
            if row is None:
                session.add(
                    PreferenceRow(owner_id=self.owner, name=name, value=value, updated_at=utcnow())
                )
            else:
                row.value, row.updated_at = value, utcnow()
