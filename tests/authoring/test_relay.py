"""relayed(): a model's text pieces passed on as they come, its result last, its error raised."""

from __future__ import annotations

import asyncio

import pytest

from slidebatch.authoring.streams import Finished, OnText, lines_of, relayed


async def test_pieces_come_in_order_then_the_result() -> None:
    """Every piece reported, in order, then Finished with the work's value."""

    async def work(on_text: OnText) -> int:
        for piece in ("a", "b", "c"):
            await on_text(piece)
            await asyncio.sleep(0)
        return 3

    seen = [item async for item in relayed(work)]
    assert seen == ["a", "b", "c", Finished(3)]


async def test_an_error_comes_after_the_pieces_before_it() -> None:
    """The work's exception is raised once the pieces it reported were yielded."""

    async def work(on_text: OnText) -> int:
        await on_text("partial")
        raise RuntimeError("upstream broke")

    seen: list[object] = []

    async def drain() -> None:
        async for item in relayed(work):
            seen.append(item)

    with pytest.raises(RuntimeError, match="upstream broke"):
        await drain()
    assert seen == ["partial"]


async def test_closing_the_stream_cancels_the_work() -> None:
    """A client that goes away stops the model call."""
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def work(on_text: OnText) -> int:
        await on_text("first")
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return 0

    stream = relayed(work)
    assert await anext(stream) == "first"
    await started.wait()
    await stream.aclose()
    await asyncio.wait_for(cancelled.wait(), 1)


def test_lines_of_keeps_the_unfinished_rest() -> None:
    """Complete non-blank lines out, the unfinished tail kept for the next piece."""
    assert lines_of("one\n\ntwo\nthr") == (["one", "two"], "thr")
