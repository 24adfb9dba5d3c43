"""Stored ``/v1/responses`` answers, one owner's: saved with the conversation turn they
answered, read back (``GET``, and ``previous_response_id`` to go on from their reply), deleted.

Another owner's response is as absent as a missing one. Deleting a response keeps the
conversation it belongs to (it is the user's history); deleting the conversation deletes its
responses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from causerie.errors import NotFoundError
from causerie.storage.db import Database
from causerie.storage.tables import LOCAL_OWNER, ResponseRow, utcnow


@dataclass(frozen=True, slots=True)
class StoredResponse:
    id: str
    conversation_id: str
    reply_id: str  # the reply's message: where a following response goes on
    body: dict[str, Any]  # the response object as it was returned


class ResponseStore:
    def __init__(self, db: Database, owner: str = LOCAL_OWNER) -> None:
        self._db = db
        self.owner = owner

    def save(
        self, response_id: str, conversation_id: str, reply_id: str, body: dict[str, Any]
    ) -> None:
        with self._db.session() as session:
            session.add(
                ResponseRow(
                    id=response_id,
                    owner_id=self.owner,
                    conversation_id=conversation_id,
                    reply_id=reply_id,
                    body=json.dumps(body, ensure_ascii=False),
                    created_at=utcnow(),
                )
            )

    def get(self, response_id: str) -> StoredResponse:
        with self._db.session() as session:
            row = self._owned(session.get(ResponseRow, response_id), response_id)
            return StoredResponse(row.id, row.conversation_id, row.reply_id, json.loads(row.body))

    def delete(self, response_id: str) -> None:
        with self._db.session() as session:
            session.delete(self._owned(session.get(ResponseRow, response_id), response_id))

    def _owned(self, row: ResponseRow | None, response_id: str) -> ResponseRow:
        if row is None or row.owner_id != self.owner:
            raise NotFoundError(f"No response found with id '{response_id}'.", param="response_id")
        return row
