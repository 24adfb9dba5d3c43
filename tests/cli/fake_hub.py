"""``FakeHub``: the few Hugging Face Hub endpoints ``causerie models pull`` calls through
``huggingface_hub``, served for real over HTTP (Starlette under uvicorn, in a thread, on
127.0.0.1) from real files, so a test sets ``HF_ENDPOINT`` to it and never touches the internet.

- ``GET /api/models/{repo}[/revision/{rev}]`` (``HfApi.model_info(files_metadata=True)``): the
  repo's commit and files, with sizes and the LFS sha256 (``wrong_sha256`` overrides one).
- ``HEAD /{repo}/resolve/{rev}/{file}`` (``get_hf_file_metadata``): ``X-Repo-Commit``, ``ETag``,
  ``X-Linked-Etag``, ``X-Linked-Size``, ``Content-Length``.
- ``GET`` of the same URL: the bytes, honouring ``Range: bytes=N-`` (206, ``Content-Range``).

On demand, ``cut_after`` makes the next GET stop after that many bytes and drops the connection;
the hub then answers 503 to everything (``down``) until the test sets ``down = False``;
``pace`` slows every body down. It records
each file GET's Range header and each request's Authorization header.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.conftest import free_port

COMMIT = "c0ffee" + "0" * 34
CHUNK = 1024 * 1024


class DroppedConnection(Exception):
    """Raised inside a response body: uvicorn drops the connection mid-transfer."""


class FakeHub:
    def __init__(self, repos: dict[str, dict[str, Path | int]]) -> None:
        """``repos``: repo id -> file name -> a real file to serve, or a size (listed only)."""
        self.repos = repos
        self.sha256: dict[Path, str] = {}
        self.wrong_sha256: dict[str, str] = {}  # file name -> what model_info claims instead
        self.cut_after: int | None = None
        self.down = False
        self.pace = 0.0  # seconds between two chunks of a body (a slow link, to watch progress)
        self.ranges: list[str | None] = []
        self.authorizations: list[str | None] = []
        self.port = free_port()
        app = Starlette(
            routes=[
                Route("/api/models/{org}/{name}", self._info),
                Route("/api/models/{org}/{name}/revision/{revision}", self._info),
                Route(
                    "/{org}/{name}/resolve/{revision}/{filename:path}",
                    self._resolve,
                    methods=["GET", "HEAD"],
                ),
            ]
        )
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="critical", lifespan="off", ws="none"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeHub:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake hub did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def sha_of(self, path: Path) -> str:
        if path not in self.sha256:
            with path.open("rb") as file:
                self.sha256[path] = hashlib.file_digest(file, "sha256").hexdigest()
        return self.sha256[path]

    def _sibling(self, filename: str, source: Path | int) -> dict[str, object]:
        if isinstance(source, int):
            size, sha = source, "0" * 64
        else:
            size, sha = source.stat().st_size, self.sha_of(source)
        sha = self.wrong_sha256.get(filename, sha)
        lfs = {"size": size, "sha256": sha, "pointerSize": 134}
        return {"rfilename": filename, "size": size, "blobId": sha[:40], "lfs": lfs}

    async def _info(self, request: Request) -> Response:
        self.authorizations.append(request.headers.get("authorization"))
        repo = f"{request.path_params['org']}/{request.path_params['name']}"
        if self.down:
            return JSONResponse({"error": "down"}, status_code=503)
        if repo not in self.repos:
            return JSONResponse(
                {"error": "Repository not found"},
                status_code=404,
                headers={"X-Error-Code": "RepoNotFound"},
            )
        siblings = [self._sibling(name, source) for name, source in self.repos[repo].items()]
        siblings.append({"rfilename": "README.md", "size": 120, "blobId": "f" * 40})
        return JSONResponse({"id": repo, "modelId": repo, "sha": COMMIT, "siblings": siblings})

    async def _resolve(self, request: Request) -> Response:
        self.authorizations.append(request.headers.get("authorization"))
        repo = f"{request.path_params['org']}/{request.path_params['name']}"
        source = self.repos.get(repo, {}).get(request.path_params["filename"])
        if request.method == "GET":
            self.ranges.append(request.headers.get("range"))
        if self.down:
            return JSONResponse({"error": "down"}, status_code=503)
        if not isinstance(source, Path):
            return Response(status_code=404, headers={"X-Error-Code": "EntryNotFound"})
        size, sha = source.stat().st_size, self.sha_of(source)
        headers = {
            "X-Repo-Commit": COMMIT,
            "ETag": f'"{sha}"',
            "X-Linked-Etag": f'"{sha}"',
            "X-Linked-Size": str(size),
            "Accept-Ranges": "bytes",
        }
        if request.method == "HEAD":
            return Response(status_code=200, headers={**headers, "Content-Length": str(size)})
        start, status = 0, 200
        wanted = request.headers.get("range", "")
        if wanted.startswith("bytes=") and wanted.endswith("-"):
            start, status = int(wanted[len("bytes=") : -1]), 206
            headers["Content-Range"] = f"bytes {start}-{size - 1}/{size}"
        headers["Content-Length"] = str(size - start)
        cut, self.cut_after = self.cut_after, None
        return StreamingResponse(self._body(source, start, cut), status, headers)

    async def _body(self, path: Path, start: int, cut: int | None) -> AsyncIterator[bytes]:
        sent = 0
        with path.open("rb") as file:
            file.seek(start)
            while chunk := file.read(CHUNK):
                if cut is not None and sent + len(chunk) >= cut:
                    yield chunk[: cut - sent]
                    self.down = True
                    raise DroppedConnection(f"cut after {cut} bytes")
                yield chunk
                sent += len(chunk)
                if self.pace:
                    await asyncio.sleep(self.pace)
