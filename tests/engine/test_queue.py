"""Round-robin admission across callers."""

from __future__ import annotations

from causerie.engine.queue import FairQueue


def test_callers_take_turns() -> None:
    queue: FairQueue[str] = FairQueue()
    for i in range(4):
        queue.push("flooder", f"a{i}")
    queue.push("other", "b0")
    queue.push("third", "c0")
    order = [queue.pop() for _ in range(6)]
    assert order == ["a0", "b0", "c0", "a1", "a2", "a3"]
    assert queue.pop() is None and len(queue) == 0


def test_skipped_items_are_reported_and_not_served() -> None:
    queue: FairQueue[str] = FairQueue()
    for item in ("x-cancelled", "y", "z-cancelled"):
        queue.push("c", item)
    dropped: list[str] = []
    served = queue.pop(skip=lambda item: item.endswith("cancelled"), dropped=dropped.append)
    assert served == "y" and dropped == ["x-cancelled"]
    assert queue.pop(skip=lambda item: item.endswith("cancelled"), dropped=dropped.append) is None
    assert dropped == ["x-cancelled", "z-cancelled"] and len(queue) == 0
