"""Password hashing with argon2id at OWASP's recommended cost (19 MiB, 2 passes, 1 lane).

``verify`` always does the work of one verification: an unknown user is checked against a
dummy hash, so the time a failed sign-in takes does not tell whether the user exists.
"""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from causerie.errors import InvalidRequestError

MIN_LENGTH = 8
MAX_LENGTH = 1024  # argon2 takes any length; this only bounds the work one request can cause

HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


@cache
def _dummy_hash() -> str:
    return HASHER.hash("causerie: no such user")


def check_strength(password: str) -> None:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise InvalidRequestError(
            f"A password is at least {MIN_LENGTH} characters long.", param="password"
        )


def hash_password(password: str) -> str:
    check_strength(password)
    return HASHER.hash(password)


def verify(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; ``password_hash=None`` (no such user) takes as long."""
    try:
        return HASHER.verify(password_hash or _dummy_hash(), password[:MAX_LENGTH]) and (
            password_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return HASHER.check_needs_rehash(password_hash)
