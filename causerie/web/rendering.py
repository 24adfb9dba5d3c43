"""Rendering pages and fragments: the template environment, the context every page gets (its
language, strings, CSRF token and principal), and the CSRF cookie a page sets when it has none."""

from __future__ import annotations

import secrets
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from causerie import __version__
from causerie.auth.gate import CSRF_COOKIE, cookie_name
from causerie.auth.principal import Principal
from causerie.deps import expected_csrf, is_secure
from causerie.errors import CauserieError
from causerie.providers.registry import ProviderRegistry
from causerie.storage.conversations import ConversationSummary
from causerie.storage.preferences import ChatSettings
from causerie.web.i18n import catalogue, language_of
from causerie.web.views import Sidebar, privacy_note

HERE = Path(__file__).resolve().parent
PAGE_HEADERS = {"Cache-Control": "no-store"}


def model_ids(registry: ProviderRegistry, allowed: tuple[str, ...] | None = None) -> list[str]:
    """What the composer's model picker offers (it shows only when there is a choice): the
    models the user may use."""
    try:
        ids = [info.id for info in registry.models()]
        if allowed is not None:
            ids = [i for i in ids if i in allowed or registry.resolve(i)[1] in allowed]
        return ids
    except CauserieError:
        return []


def page(
    request: Request,
    name: str,
    *,
    sidebar: Sidebar,
    conversation: ConversationSummary | None = None,
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    context: dict[str, Any] = {
        "sidebar": sidebar,
        "conversation": conversation,
        "messages": (),
        "earlier": None,
        "temporary": False,
        "models": [],
        "chat_settings": ChatSettings(),
        "project": None,  # a project's page: the project
        **extra,
    }
    return fragment(request, name, status_code=status_code, **context)


def fragment(
    request: Request, name: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    root = str(request.scope.get("root_path", "")).rstrip("/")
    lang = language_of(request)
    strings = catalogue(lang)
    principal = getattr(request.state, "principal", None)
    csrf_token, new_cookie = page_csrf_token(request, principal)
    response = templates().TemplateResponse(
        request,
        name,
        {
            "root": root,
            "version": __version__,
            "lang": lang,
            "t": SimpleNamespace(**strings),  # t.copy must not be dict.copy
            "strings": strings,
            "csrf_token": csrf_token,
            "principal": principal,
            **context,
        },
        status_code=status_code,
        headers=PAGE_HEADERS,
    )
    if new_cookie:
        secure = is_secure(request)
        response.set_cookie(
            cookie_name(CSRF_COOKIE, secure=secure),
            csrf_token,
            httponly=True,
            secure=secure,
            samesite="lax",
            path="/",
        )
    return response


def page_csrf_token(request: Request, principal: Principal | None) -> tuple[str, bool]:
    """The token this page's forms and fetches send back, and whether it needs a new cookie."""
    expected = expected_csrf(request, principal)
    if expected:
        return expected, False
    return secrets.token_urlsafe(32), True


@cache
def templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["privacy_note"] = privacy_note
    return Jinja2Templates(env=env)
