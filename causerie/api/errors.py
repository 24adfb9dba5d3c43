"""Every error becomes OpenAI's envelope: ``{"error": {"message", "type", "param", "code"}}``;
on Ollama's routes (``responses.OLLAMA_PATHS``), Ollama's: ``{"error": "<message>"}``."""

from __future__ import annotations

import json
import logging

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


def validation_response(errors: list[dict[str, object]]) -> JSONResponse:
    """A pydantic error list -> one readable 400 naming the first offending parameter."""
    first = errors[0] if errors else {}
    context = first.get("ctx")
    inner = context.get("error") if isinstance(context, dict) else None
    if isinstance(inner, CauserieError):  # raised by one of our validators
        return causerie_error_response(inner)
    location = [str(part) for part in first.get("loc", ()) if part != "body"]  # type: ignore[attr-defined]
    param = ".".join(location) or None
    kind = str(first.get("type", ""))
    if kind in ("json_invalid", "json_type"):
        return error_response(400, "The request body is not valid JSON.", "invalid_request_error")
    message = str(first.get("msg", "Invalid request."))
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
