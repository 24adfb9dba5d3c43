"""Every error becomes OpenAI's envelope: ``{"error": {"message", "type", "param", "code"}}``;
on Ollama's routes (``responses.OLLAMA_PATHS``), Ollama's: ``{"error": "<message>"}``."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from causerie.api.schemas import ErrorBody, ErrorEnvelope
from causerie.errors import CauserieError
from causerie.middleware import SECURITY_HEADERS
from causerie.responses import OLLAMA_PATHS
from causerie.responses import error_response as causerie_error_response

log = logging.getLogger(__name__)

HTTP_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


def error_response(
    status: int, message: str, type_: str, *, param: str | None = None, code: str | None = None
) -> JSONResponse:
    """An envelope for what is not a ``CauserieError`` (validation, routing, the unexpected)."""
    body = ErrorEnvelope(error=ErrorBody(message=message, type=type_, param=param, code=code))
    return JSONResponse(body.model_dump(), status_code=status)


# The segments pydantic adds to an error's location for the member of a union it tried
# (``str``, ``list[TextPart]``, ``literal['a','b']``, ``NamedToolChoice``): no client sent them.
UNION_MEMBER = re.compile(r"^(str|int|float|bool|bytes|none|[a-z-]+\[.*\]|[A-Z][A-Za-z0-9]*)$")


def client_location(location: Sequence[object]) -> tuple[str, ...]:
    """An error's location as the client wrote the request: no ``body``, no union members."""
    return tuple(
        str(part)
        for part in location
        if part != "body" and not (isinstance(part, str) and UNION_MEMBER.match(part))
    )


def is_member(part: object) -> bool:
    return isinstance(part, str) and UNION_MEMBER.match(part) is not None


def reported(errors: list[dict[str, Any]]) -> tuple[tuple[str, ...], str]:
    """The first error's location and message; for a field whose type is a union, from the
    member the value was meant for, or, when it fits none, every member's complaint.

    Pydantic reports one error per member (of each union, when they nest). The member meant is
    not one whose ``type`` (a literal field inside it) differs from the value's; of the
    others, the one the value matched deepest, else one whose type the value has (its
    constraints failed)."""
    location = [part for part in errors[0].get("loc", ()) if part != "body"]
    at = next((i for i, part in enumerate(location) if is_member(part)), None)
    if at is None:  # not in a union's member
        return client_location(location), str(errors[0].get("msg", "Invalid request."))
    union = location[:at]
    groups: dict[tuple[object, ...], list[tuple[tuple[str, ...], str, str]]] = {}
    refused: set[tuple[object, ...]] = set()  # members whose literal `type` did not match
    for error in errors:
        place = [part for part in error.get("loc", ()) if part != "body"]
        if len(place) <= at or place[:at] != union or not is_member(place[at]):
            continue
        member = tuple((i, part) for i, part in enumerate(place) if is_member(part))
        where, kind = client_location(place), str(error.get("type", ""))
        groups.setdefault(member, []).append((where, str(error.get("msg", "")), kind))
        inner = len(client_location(place[: member[-1][0]]))
        if kind == "literal_error" and len(where) > inner:
            refused.add(member)
    every = [entry for entries in groups.values() for entry in entries]
    meant = [e for member, entries in groups.items() if member not in refused for e in entries]
    meant = meant or every
    field = client_location(union)
    deepest = max(len(where) for where, _, _ in meant)
    if deepest > len(field):
        where, message, _ = next(entry for entry in meant if len(entry[0]) == deepest)
        return where, message
    typed = [message for _, message, kind in meant if not kind.endswith("_type")]
    if typed:  # the value has this member's type, but not its constraints
        return field, typed[0]
    messages = list(dict.fromkeys(message for _, message, _ in meant))
    return field, messages[0] + "".join(f", or {m[:1].lower()}{m[1:]}" for m in messages[1:])


def validation_response(errors: list[dict[str, Any]]) -> JSONResponse:
    """A pydantic error list -> one readable 400 naming the first offending parameter as the
    client sent it (``messages.0.content``, never pydantic's ``messages.0.content.str``)."""
    first = errors[0] if errors else {}
    context = first.get("ctx")
    inner = context.get("error") if isinstance(context, dict) else None
    if isinstance(inner, CauserieError):  # raised by one of our validators
        return causerie_error_response(inner)
    kind = str(first.get("type", ""))
    if kind in ("json_invalid", "json_type"):
        return error_response(400, "The request body is not valid JSON.", "invalid_request_error")
    location, message = reported(errors) if errors else ((), "Invalid request.")
    param = ".".join(location) or None
    if param:
        message = f"Invalid value for '{param}': {message}"
    return error_response(400, message, "invalid_request_error", param=param)


def shaped(request: Request, response: JSONResponse) -> JSONResponse:
    """``response`` as its route's clients read an error: on Ollama's routes, the envelope's
    message alone (``{"error": "<message>"}``), with the same status and headers."""
    if request.url.path not in OLLAMA_PATHS:
        return response
    message = json.loads(bytes(response.body))["error"]["message"]
    kept = {
        k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")
    }
    return JSONResponse({"error": message}, status_code=response.status_code, headers=kept)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CauserieError)
    async def _causerie(request: Request, exc: CauserieError) -> JSONResponse:
        return causerie_error_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return shaped(request, validation_response(list(exc.errors())))

    @app.exception_handler(ValidationError)
    async def _validation(request: Request, exc: ValidationError) -> JSONResponse:
        return shaped(request, validation_response(list(exc.errors())))  # type: ignore[arg-type]

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        type_ = HTTP_TYPES.get(exc.status_code, "invalid_request_error")
        return shaped(request, error_response(exc.status_code, str(exc.detail), type_))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        response = shaped(
            request,
            error_response(500, "The server had an error processing your request.", "server_error"),
        )
        # Starlette answers this from outside every middleware: add the security headers here.
        for name, value in SECURITY_HEADERS:
            response.headers[name.decode()] = value.decode()
        return response
