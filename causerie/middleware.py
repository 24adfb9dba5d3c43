"""ASGI middleware: arrival clock, request size limit, Host and Origin checks, security headers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from causerie.errors import CauserieError, PayloadTooLargeError, PermissionDeniedError
from causerie.responses import error_body

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    # same-origin, not no-referrer: under no-referrer a browser sends `Origin: null` with the
    # page's own form posts and fetches, which the Host guard could not tell from another site's
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


RECEIVED_AT = "received_at"


class RequestClockMiddleware:
    """Stamps each request's arrival (``request.state.received_at``, ``time.perf_counter()``),
    so that a route can tell its own time from the time spent before it ran."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})[RECEIVED_AT] = time.perf_counter()
        await self.app(scope, receive, send)


def received_at(state: object) -> float | None:
    """The arrival stamp on a request's ``state`` (None when the clock did not run)."""
    value = getattr(state, RECEIVED_AT, None)
    return value if isinstance(value, float) else None


UPLOAD_PATH = "/api/files"
IMPORT_PATH = "/api/imports"
UPLOAD_ENVELOPE_BYTES = 64 * 1024  # a multipart body's headers and boundaries around the file


class BodyLimitMiddleware:
    """Refuses bodies over ``max_bytes`` (an upload to ``/api/files``: ``upload_bytes``, to
    ``/api/imports``: ``import_bytes``, and the multipart envelope): at once from Content-Length, else while reading."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        upload_bytes: int | None = None,
        import_bytes: int | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_bytes = upload_bytes if upload_bytes is not None else max_bytes
        self.import_bytes = import_bytes if import_bytes is not None else max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        if scope["method"] == "POST" and scope["path"] == UPLOAD_PATH:
            limit = max(limit, self.upload_bytes + UPLOAD_ENVELOPE_BYTES)
        elif scope["method"] == "POST" and scope["path"] == IMPORT_PATH:
            limit = max(limit, self.import_bytes + UPLOAD_ENVELOPE_BYTES)
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _too_large(send, limit, scope["path"])
                return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise PayloadTooLargeError(_too_large_text(limit))
            return message

        await self.app(scope, counting_receive, send)


def _too_large_text(limit: int) -> str:
    return f"The request body is larger than the limit of {limit} bytes."


async def _too_large(send: Send, limit: int, path: str) -> None:
    await _refuse(send, PayloadTooLargeError(_too_large_text(limit)), path, close=True)


async def _refuse(send: Send, error: CauserieError, path: str, close: bool = False) -> None:
    """``error``'s body (``error_body``: Ollama's shape on its routes) and status, sent straight
    from the middleware."""
    headers = [(b"content-type", b"application/json")]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    body = json.dumps(error_body(error, path)).encode()
    await send({"type": "http.response.body", "body": body})


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def host_name(host: str) -> str:
    """The name in a Host header, without the port: ``[::1]:8000`` -> ``::1``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class HostGuardMiddleware:
    """Closes DNS rebinding and cross-site requests to a server on loopback.

    A web page can rebind its own name to 127.0.0.1 and read a server with no accounts; its
    requests then carry *its* name in ``Host``. Only loopback names and configured ones are
    served. A state-changing request whose ``Origin`` is another site is refused too (a client
    that sends no ``Origin``, such as the openai SDK or curl, is not a browser page).
    """

    def __init__(self, app: ASGIApp, allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = {host_name(name) for name in allowed if name.strip()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        path = scope["path"]
        host = headers.get(b"host", b"").decode("latin-1")
        if host_name(host) not in self.allowed:
            message = (
                f"The host name {host_name(host)!r} is not served here; use 127.0.0.1 or "
                "localhost, or add it to CAUSERIE_ALLOWED_HOSTS."
            )
            await _refuse(send, PermissionDeniedError(message, code="host_not_allowed"), path)
            return
        origin = headers.get(b"origin")
        if scope["method"] in UNSAFE_METHODS and origin is not None:
            netloc = urlsplit(origin.decode("latin-1")).netloc.lower()
            if netloc != host.strip().lower():
                message = "A request from another site's page was refused."
                refused = PermissionDeniedError(message, code="cross_origin_refused")
                await _refuse(send, refused, path)
                return
        await self.app(scope, receive, send)


class SecurityHeadersMiddleware:
    """Adds CSP and friends to every HTTP response (pages, API and static files alike)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
