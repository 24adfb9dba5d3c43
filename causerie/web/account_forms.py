"""What the account pages share: the form fields they read, where a sign-in may lead, the
session cookie, the readable message for a refused form, and the usage table.

The messages come from the page's string catalogue, chosen by the error's ``code`` (or the form
field it names); an error this module does not know keeps its own (English) message.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlsplit

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from causerie.auth.gate import SESSION_COOKIE, cookie_name
from causerie.auth.principal import Principal
from causerie.deps import check_csrf, is_secure
from causerie.errors import CauserieError, PermissionDeniedError, TooManyRequestsError
from causerie.storage.credentials import SESSION_LIFETIME
from causerie.storage.usage import UsageLine
from causerie.web.i18n import catalogue, language_of

__all__ = [
    "UsageTable",
    "clear_session_cookie",
    "client_ip",
    "csrf_refusal",
    "explain",
    "field",
    "local_target",
    "redirect",
    "root_of",
    "set_session_cookie",
    "strings_for",
]

FIELD_LIMIT = 1024  # no form field of these pages needs more (passwords stop at 1024 too)

# error code, or the form field an error names -> the catalogue's string for it
MESSAGES = {
    "wrong_credentials": "wrong_credentials",
    "account_pending": "account_pending",
    "account_disabled": "account_disabled",
    "csrf_failed": "csrf_failed",
    "signup_closed": "signup_closed_text",
    "conflict": "username_taken",
    "username": "username_invalid",
    "password": "password_too_short",
    "invite": "invite_invalid",
    "current_password": "current_password_wrong",
    "last_admin_delete": "last_admin_delete",
}


def root_of(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def strings_for(request: Request) -> dict[str, str]:
    """The catalogue of the page's language."""
    return catalogue(language_of(request))


def redirect(url: str) -> RedirectResponse:
    """After a form: "see other", so reloading the next page does not post the form again."""
    return RedirectResponse(url, status_code=303)


async def csrf_refusal(request: Request, principal: Principal | None) -> str | None:
    """What to show when the form's CSRF token is missing or wrong; None when it is right."""
    try:
        await check_csrf(request, principal)
    except PermissionDeniedError as exc:
        return explain(exc, strings_for(request))
    return None


def client_ip(request: Request) -> str:
    """The caller's address (behind a trusted proxy, the one it forwarded)."""
    return request.client.host if request.client else ""


def field(form: FormData, name: str) -> str:
    """A text field of the posted form; "" when it is missing or a file."""
    value = form.get(name)
    return value[:FIELD_LIMIT] if isinstance(value, str) else ""


def local_target(value: str | None, root: str) -> str:
    """Where to go after signing in: ``value`` if it is a path on this site, else the home
    page. Another site's address (``https://…``, ``//host``, ``/\\host``) is never followed."""
    home = f"{root}/"
    if not value or not value.startswith("/") or value.startswith("//"):
        return home
    if "\\" in value or any(ord(char) < 32 or ord(char) == 127 for char in value):
        return home
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return home
    return value


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    """HttpOnly, SameSite=Lax, Path=/; ``__Host-`` and Secure over HTTPS."""
    secure = is_secure(request)
    response.set_cookie(
        cookie_name(SESSION_COOKIE, secure=secure),
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        secure=secure,
        samesite="lax",
        path="/",
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    secure = is_secure(request)
    response.delete_cookie(
        cookie_name(SESSION_COOKIE, secure=secure),
        path="/",
        secure=secure,
        httponly=True,
        samesite="lax",
    )


def explain(exc: CauserieError, strings: Mapping[str, str]) -> str:
    """The message a refused form shows, in the page's language."""
    if isinstance(exc, TooManyRequestsError):
        minutes = max(1, math.ceil(exc.retry_after / 60))
        return strings["too_many_attempts"].replace("{minutes}", str(minutes))
    for reason in (exc.code, exc.param):
        key = MESSAGES.get(reason or "")
        if key is not None:
            return strings[key]
    return exc.message


@dataclass(frozen=True, slots=True)
class UsageRow:
    day: date
    model: str
    requests: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0

    def plus(self, line: UsageLine) -> UsageRow:
        return UsageRow(
            self.day,
            self.model,
            self.requests + line.requests,
            self.prompt_tokens + line.prompt_tokens,
            self.cached_tokens + line.cached_tokens,
            self.completion_tokens + line.completion_tokens,
        )


@dataclass(frozen=True, slots=True)
class UsageTable:
    """One row per day and model (all the user's keys and the page together), newest day
    first, and the total."""

    rows: tuple[UsageRow, ...]
    total: UsageRow

    @classmethod
    def of(cls, lines: Iterable[UsageLine], since: date) -> UsageTable:
        merged: dict[tuple[date, str], UsageRow] = {}
        total = UsageRow(since, "")
        for line in lines:
            key = (line.day, line.model)
            merged[key] = merged.get(key, UsageRow(line.day, line.model)).plus(line)
            total = total.plus(line)
        rows = sorted(merged.values(), key=lambda row: (-row.day.toordinal(), row.model))
        return cls(tuple(rows), total)
