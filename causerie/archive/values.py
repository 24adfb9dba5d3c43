"""Field values as exports write them, made safe for the tree: times in any epoch unit,
strings cut to their columns, roles, ids. Every function accepts anything and never raises."""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from causerie.types import Role

TITLE_MAX = 200  # conversations.title is String(200)
MODEL_MAX = 200  # messages.model and conversations.model are String(200)
ID_MAX = 200
NAME_MAX = 255

ROLES: frozenset[str] = frozenset({"system", "user", "assistant", "tool"})
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utc_from_epoch(value: Any) -> datetime | None:
    """A time from epoch seconds, milliseconds, microseconds or nanoseconds (told apart by
    size: no export writes dates after 5138 or before 1973 in a finer unit), or an ISO 8601
    string; None for anything else."""
    if isinstance(value, str):
        return _from_iso(value)
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    number = float(value)
    if not math.isfinite(number) or number < 0:
        return None
    for unit in (1.0, 1e3, 1e6, 1e9):
        if number < 1e11 * unit:
            try:
                return datetime.fromtimestamp(number / unit, UTC)
            except (OverflowError, OSError, ValueError):
                return None
    return None


def _from_iso(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def clip(value: Any, limit: int) -> str | None:
    """A one-line string (runs of white space made one space) cut to ``limit`` characters;
    None when missing or empty."""
    if not isinstance(value, str):
        return None
    return " ".join(value[: limit * 4].split())[:limit] or None


def title_of(value: Any) -> str | None:
    return clip(value, TITLE_MAX)


def model_of(value: Any) -> str | None:
    return clip(value, MODEL_MAX)


def text_of(value: Any) -> str:
    return value if isinstance(value, str) else ""


def role_of(value: Any) -> Role | None:
    """The role when it is one Causerie knows, else None."""
    if value in ROLES:
        role: Role = value
        return role
    return None


def safe_id(value: Any) -> str | None:
    """An external id as text, at most ``ID_MAX`` characters: a longer one is replaced by its
    hash (cutting it could make two ids one). None when missing or empty."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        return None
    if len(value) > ID_MAX:
        return "sha256:" + hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()
    return value


def flag(value: Any) -> bool:
    """True only for a true boolean (or 1): "false" or a dict never count as set."""
    return value is True or (isinstance(value, int) and not isinstance(value, bool) and value == 1)


def number_of(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    number = float(value)
    return int(number) if math.isfinite(number) and number >= 0 else None
