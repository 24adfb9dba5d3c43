"""``create_app(settings)``: the FastAPI application serving the API and the web chat."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from causerie import __version__
from causerie.api import chat as chat_api
from causerie.api import completions as completions_api
from causerie.api import conversations as conversations_api
from causerie.api import embeddings as embeddings_api
from causerie.api import exports as exports_api
from causerie.api import files as files_api
from causerie.api import imports as imports_api
from causerie.api import models as models_api
from causerie.api import projects as projects_api
from causerie.api import responses_routes as responses_api
from causerie.api.errors import install_error_handlers
from causerie.api.ollama import routes as ollama_api
from causerie.config import Settings
from causerie.deps import ReaderPrincipal, ServicesDep
from causerie.middleware import (
    BodyLimitMiddleware,
    HostGuardMiddleware,
    RequestClockMiddleware,
    SecurityHeadersMiddleware,
)
from causerie.services import Services


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """Build the app. Services (database, model) are built at start-up unless given (then the
    caller owns them, and the app works without its lifespan being run)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        app.state.services = services or Services.build(settings)
        if owned:  # given services may serve other loops too
            app.state.services.local.engine.attach(asyncio.get_running_loop())
            app.state.services.ingestor.start()  # reads what a stop left unread
            app.state.services.retention.start()  # purges past the admin's retention period
        try:
            yield
        finally:
            if owned:
                await app.state.services.close()

    # /docs and /openapi.json are routes of ours below: closed to anonymous clients once
    # accounts exist.
    app = FastAPI(
        title="Causerie", version=__version__, lifespan=lifespan, docs_url=None, openapi_url=None
    )
    if services is not None:  # served in-process without a lifespan (the fast test tier)
        app.state.services = services
    install_error_handlers(app)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_request_bytes,
        upload_bytes=settings.max_upload_bytes,
        import_bytes=settings.max_import_bytes,
    )
    hosts = settings.served_hosts()
    if hosts is not None:
        app.add_middleware(HostGuardMiddleware, allowed=hosts)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestClockMiddleware)  # outermost: the arrival, before any of ours
    app.include_router(chat_api.router)
    app.include_router(responses_api.router)
    app.include_router(completions_api.router)
    app.include_router(models_api.router)
    app.include_router(files_api.router)
    app.include_router(embeddings_api.router)
    app.include_router(projects_api.router)
    app.include_router(conversations_api.router)
    app.include_router(imports_api.router)
    app.include_router(exports_api.router)
    app.include_router(ollama_api.router)  # Ollama's API: /api/chat, /api/tags...

    @app.get("/health", summary="Liveness: the process answers")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", summary="Readiness: the model is loaded and the database answers")
    async def ready(services: ServicesDep) -> JSONResponse:
        engine = services.local.engine.state()
        checks = {
            "database": services.database.ping(),
            "model": bool(services.registry.models()) and engine.running,
        }
        status = 200 if all(checks.values()) else 503
        body = {
            "status": "ok" if status == 200 else "unavailable",
            **checks,
            "engine": {"running": engine.running, "pid": engine.pid, "restarts": engine.restarts},
        }
        return JSONResponse(body, status)

    @app.get("/metrics", summary="Prometheus metrics of the engine", include_in_schema=False)
    async def metrics(request: Request, services: ServicesDep) -> Response:
        await to_thread.run_sync(
            services.gate.check_metrics_reader, request.headers, settings.metrics_token
        )
        return Response(generate_latest(services.metrics), media_type=CONTENT_TYPE_LATEST)

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(_: ReaderPrincipal) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    async def docs(_: ReaderPrincipal) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Causerie API")

    from causerie.web.routes import mount_web

    mount_web(app)
    return app
