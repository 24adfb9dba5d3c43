"""Pages of the web chat (placeholder until the chat page lands)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse


def mount_web(app: FastAPI) -> None:
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> str:
        return "<!doctype html><title>Causerie</title><p>Causerie</p>"
