"""Responses shared by the API and the pages (which never import ``api/``): an error in OpenAI's
envelope (on Ollama's routes, in Ollama's), and a reply streamed as Server-Sent Events or as
newline-delimited JSON."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi.responses import JSONResponse, StreamingResponse
from starlette.types import Receive, Scope, Send

from causerie.errors import CauserieError

# Ollama's routes (``api/ollama/``): their clients read an error as ``{"error": "<message>"}``.
OLLAMA_PATHS = frozenset(
    {
        "/api/version",
        "/api/tags",
        "/api/show",
        "/api/ps",
        "/api/chat",
        "/api/generate",
        "/api/embed",
        "/api/embeddings",
        "/api/pull",
        "/api/push",
        "/api/create",
        "/api/copy",
        "/api/delete",
    }
)


def error_body(exc: CauserieError, path: str = "") -> dict[str, Any]:
    """OpenAI's envelope, or on one of Ollama's routes (``path``) Ollama's."""
    if path in OLLAMA_PATHS:
        return {"error": exc.message}
    return exc.envelope()


def error_response(exc: CauserieError, path: str = "") -> JSONResponse:
    """The error's body (``error_body``) with the class's status, and Retry-After when it says
    when."""
    response = JSONResponse(error_body(exc, path), status_code=exc.status)
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    return response


class EventStreamResponse(StreamingResponse):
    """A ``text/event-stream`` reply that stops as soon as its client goes away.

    Starlette's ``StreamingResponse`` watches for the disconnect in an anyio task group, whose
    start costs a cold request a few tenths of a millisecond before its first byte. Here a
    plain task watches instead, and cancels the streaming task when the client leaves; the
    body's generator is then unwound where it waits (its ``finally`` runs, as it does with
    Starlette's), and the cancellation is taken back so the server sees a request that ended.
    """

    media_type = "text/event-stream"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        streaming = asyncio.current_task()
        assert streaming is not None
        ended = False
        left = False

        async def watch() -> None:
            nonlocal left
            while (await receive())["type"] != "http.disconnect":
                pass
            if not ended:
                left = True
                streaming.cancel()

        watcher = asyncio.get_running_loop().create_task(watch())
        try:
            await self.stream_response(send)
        except asyncio.CancelledError:
            if not left or streaming.uncancel() > 0:  # someone else's cancellation too
                raise
        finally:
            ended = True
            watcher.cancel()
        if self.background is not None:
            await self.background()


class NdjsonResponse(EventStreamResponse):
    """Newline-delimited JSON, one object a line (Ollama's streams), stopped as soon as its
    client goes away, like ``EventStreamResponse``."""

    media_type = "application/x-ndjson"
