"""The admission queue: fair across callers (round-robin)."""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class FairQueue(Generic[T]):
    """Waiting requests grouped by caller; ``pop`` serves callers in turn.

    A caller with sixteen queued requests and a caller with one alternate, so the single request
    waits behind at most one of the other caller's. (The scheduler bounds how many may wait.)
    """

    def __init__(self) -> None:
        self._callers: OrderedDict[str, deque[T]] = OrderedDict()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def push(self, caller: str, item: T) -> None:
        self._callers.setdefault(caller, deque()).append(item)
        self._size += 1

    def pop(
        self,
        skip: Callable[[T], bool] = lambda _: False,
        dropped: Callable[[T], None] = lambda _: None,
        fits: Callable[[T], bool] = lambda _: True,
    ) -> T | None:
        """The next request in caller rotation; those ``skip`` rejects are handed to
        ``dropped`` (cancelled while waiting). None as well when the next one does not
        ``fit`` yet: it stays first, and waits for room."""
        while self._callers:
            caller, items = next(iter(self._callers.items()))
            if not skip(items[0]) and not fits(items[0]):
                return None
            item = items.popleft()
            self._size -= 1
            if items:
                self._callers.move_to_end(caller)
            else:
                del self._callers[caller]
            if not skip(item):
                return item
            dropped(item)
        return None
