"""``Relay``: a tiny real HTTP server (Starlette under uvicorn, in a thread, on 127.0.0.1) that
stands in front of a real upstream `causerie serve`.

It forwards ``/v1/...`` to the upstream unchanged and streams the answer back, and records what it
saw (request count, request bodies, client ports). On demand it answers instead with what a real upstream
Causerie cannot be made to send: ``429`` with a ``Retry-After`` header, or ``503``. It speaks real
HTTP; nothing in Causerie is patched.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.conftest import free_port


class Relay:
    def __init__(self, target_api_url: str) -> None:
        self.target = target_api_url.rstrip("/")
        self.port = free_port()
        self.calls = 0
        self.bodies: list[dict[str, Any]] = []
        self.peers: list[int] = []  # each call's client port: one per connection
        self.forced: list[tuple[int, dict[str, str]]] = []  # answered before forwarding resumes
        self.down = False  # answer 503 to everything
        self.trailer = b""  # bytes sent after the upstream's own body (a sloppy upstream)
        self._lock = threading.Lock()
        app = Starlette(routes=[Route("/v1/{path:path}", self._handle, methods=["GET", "POST"])])
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off", ws="none"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> Relay:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("relay did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def force(self, status: int, retry_after: str | None = None, times: int = 1) -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.forced += [(status, headers)] * times

    async def _handle(self, request: Request) -> Response:
        raw = await request.body()
        with self._lock:
            self.calls += 1
            self.peers.append(request.client.port if request.client else 0)
            if raw:
                self.bodies.append(json.loads(raw))
            forced = self.forced.pop(0) if self.forced else None
        if self.down:
            forced = (503, {})
        if forced is not None:
            status, headers = forced
            message = {"error": {"message": f"relay says {status}", "type": "server_error"}}
            return JSONResponse(message, status_code=status, headers=headers)
        client = httpx.AsyncClient(timeout=60)
        upstream = await client.send(
            client.build_request(
                request.method,
                f"{self.target}/{request.path_params['path']}",
                content=raw,
                headers={"content-type": request.headers.get("content-type", "application/json")},
            ),
            stream=True,
        )

        async def body() -> AsyncIterator[bytes]:
            try:
                async for piece in upstream.aiter_raw():
                    yield piece
                if self.trailer:
                    yield self.trailer
            finally:
                await upstream.aclose()
                await client.aclose()

        return StreamingResponse(
            body(),
            status_code=upstream.status_code,
            media_type=upstream.headers.get("content-type"),
        )
