"""UntilAnswered: storage calls waited out through an outage, each failed try one event."""

from __future__ import annotations

import pytest

from slidebatch.errors import NotFound
from slidebatch.storage.errors import StorageUnavailable
from slidebatch.storage.retrying import UntilAnswered
from slidebatch.testing.memory_log import MemoryLog


async def test_an_outage_is_waited_out_and_each_failed_try_is_one_event() -> None:
    """Two unavailable answers, then a result: two ``storage_retry`` events, backoff growing."""
    slept: list[float] = []
    log = MemoryLog()

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    answers: list[Exception | None] = [StorageUnavailable("down"), StorageUnavailable("down")]

    async def call() -> str:
        if answers:
            error = answers.pop(0)
            assert error is not None
            raise error
        return "stored"

    assert await UntilAnswered(sleep, first=0.05, cap=5.0, log=log)("mark_done", call) == "stored"
    assert [e.name for e in log.events] == ["storage_retry", "storage_retry"]
    details = [e.fields["details"] for e in log.events]
    assert [d["failures"] for d in details] == [1, 2]
    assert all(d["action"] == "mark_done" for d in details)
    assert slept[0] < slept[1]


async def test_an_answer_that_is_not_an_outage_is_not_retried() -> None:
    """``NotFound`` is an answer: raised at once, nothing logged."""
    log = MemoryLog()

    async def sleep(seconds: float) -> None:
        raise AssertionError("no wait expected")

    async def call() -> str:
        raise NotFound("no such batch")

    with pytest.raises(NotFound):
        await UntilAnswered(sleep, log=log)("get_batch", call)
    assert not log.events
