"""``bench --load`` waits for the list's filler batches before it times the lists."""

from __future__ import annotations

import httpx

from slidebatch.bench.load import unsettled, until_settled


def test_unsettled_counts_queued_and_running_batches() -> None:
    """Only queued and running batches are still at work; every final state is settled."""
    items = [
        {"status": status}
        for status in ("queued", "running", "completed", "failed", "cancelled", "running")
    ]
    assert unsettled(items) == 3
    assert unsettled([]) == 0


async def testuntil_settled_asks_again_until_no_batch_runs() -> None:
    """The list is read until none of its batches is queued or running, then no more."""
    pages = [["running", "completed"], ["queued"], ["completed", "completed_with_errors"]]
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        items = [{"status": status} for status in pages[len(asked) - 1]]
        return httpx.Response(200, json={"items": items, "total": len(items)})

    transport = httpx.MockTransport(answer)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        await until_settled(client, every=0)
    assert asked == ["http://bench/api/slide/batch?limit=200"] * 3
