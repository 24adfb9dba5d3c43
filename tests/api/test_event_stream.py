"""``EventStreamResponse``: a streamed reply stops when its client leaves, and only then."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.background import BackgroundTask

from causerie.responses import EventStreamResponse


class Client:
    """The ASGI side of one request: its body already read, it leaves when told to."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.leave = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        await self.leave.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def bodies(self) -> list[bytes]:
        return [m["body"] for m in self.sent if m["type"] == "http.response.body"]


SCOPE = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}}


def test_a_finished_stream_sends_everything_and_runs_its_background() -> None:
    ran: list[str] = []

    async def events() -> AsyncIterator[str]:
        yield "data: 1\n\n"
        yield "data: 2\n\n"

    async def main() -> None:
        client = Client()
        response = EventStreamResponse(events(), background=BackgroundTask(ran.append, "bg"))
        await response(SCOPE, client.receive, client.send)
        assert client.sent[0]["status"] == 200
        assert dict(client.sent[0]["headers"])[b"content-type"].startswith(b"text/event-stream")
        assert client.bodies() == [b"data: 1\n\n", b"data: 2\n\n", b""]
        await asyncio.sleep(0)
        assert len(asyncio.all_tasks()) == 1  # the watcher is gone

    asyncio.run(main())
    assert ran == ["bg"]


def test_a_client_that_leaves_stops_the_generator_where_it_waits() -> None:
    ran: list[str] = []

    async def main() -> None:
        client = Client()

        async def events() -> AsyncIterator[str]:
            try:
                yield "data: 1\n\n"
                client.leave.set()
                await asyncio.sleep(3600)  # a token that would never come
                yield "data: never\n\n"
            finally:
                ran.append("generator closed")

        response = EventStreamResponse(events(), background=BackgroundTask(ran.append, "bg"))
        await asyncio.wait_for(response(SCOPE, client.receive, client.send), 5)
        assert client.bodies() == [b"data: 1\n\n"]
        assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]

    asyncio.run(main())
    assert ran == ["generator closed", "bg"]


def test_a_cancellation_from_elsewhere_is_not_swallowed() -> None:
    async def main() -> None:
        client = Client()
        started = asyncio.Event()

        async def events() -> AsyncIterator[str]:
            started.set()
            await asyncio.sleep(3600)
            yield "data: never\n\n"

        task = asyncio.create_task(
            EventStreamResponse(events())(SCOPE, client.receive, client.send)
        )
        await started.wait()
        task.cancel()  # the server shutting down, say: the client is still there
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
