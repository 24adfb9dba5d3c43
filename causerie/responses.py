"""An error as an HTTP response: OpenAI's envelope, the class's status, and Retry-After when the
error says when to try again. Shared by the API and the pages (which never import ``api/``)."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from causerie.errors import CauserieError


def error_response(exc: CauserieError) -> JSONResponse:
    response = JSONResponse(exc.envelope(), status_code=exc.status)
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    return response
