"""Stop strings in a stream: emit text as soon as it cannot be the start of a stop string."""

from __future__ import annotations

from collections.abc import Sequence


class StopMatcher:
    """Feeds text pieces; holds back only what could still grow into a stop string."""

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = [stop for stop in stops if stop]
        self._pending = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """Return ``(text safe to emit, stopped)``. After a stop, the text before it is returned."""
        buffer = self._pending + text
        hits = [index for index in (buffer.find(stop) for stop in self._stops) if index >= 0]
        if hits:
            self._pending = ""
            return buffer[: min(hits)], True
        hold = 0
        for stop in self._stops:
            for size in range(min(len(stop) - 1, len(buffer)), hold, -1):
                if buffer.endswith(stop[:size]):
                    hold = size
                    break
        self._pending = buffer[len(buffer) - hold :]
        return buffer[: len(buffer) - hold], False

    def flush(self) -> str:
        """The held-back text, once the stream has ended without a stop."""
        pending, self._pending = self._pending, ""
        return pending
