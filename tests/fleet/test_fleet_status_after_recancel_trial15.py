"""Trial #15: a fleet API process's status answer after cancel, retry, a poll, cancel.

Seen live (``serve --no-worker`` + ``worker``): the batch ends ``cancelled`` and the list
answer counts its slides cancelled, but GET /api/slide/batch/{id} (and POST .../status, and
the SSE snapshot) keep listing them ``pending``, with ``completed_slides`` and ``failed`` at
their values after the retry, for as long as the process runs. A second cancel that ends the
batch at once (no claim held) seems to change the batch's own fields only, so the status
snapshot cached by the poll after the retry keeps its slides. No worker here: nothing is
claimed, so every cancel ends the batch at once (live it depends on the worker's timing).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from slidebatch.config import load_settings
from slidebatch.core.aspect import AspectRatio
from slidebatch.core.slide import BatchRequest, Slide, SlideType
from slidebatch.services import FleetRole, Services, build_services

pytestmark = pytest.mark.postgres


@pytest.fixture
async def api(tmp_path: Path, postgres_url: str) -> AsyncIterator[Services]:
    settings = load_settings(
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        database_url=postgres_url,
        fleet_poll_seconds=0.1,
    )
    async with build_services(settings, fleet=FleetRole(api=True, worker=False)) as services:
        yield services


@pytest.mark.parametrize("retry_first", [True, False])
async def test_a_cancel_that_ends_the_batch_reaches_the_status_answer(
    api: Services, retry_first: bool
) -> None:
    """retry_first: cancel, retry, poll, cancel (as seen live); else poll, cancel (the same
    fault in-process: the batch ended by the cancel, its slides still pending in the answer)."""
    slides = tuple(
        Slide(f"s{i}", i, SlideType.CONTENT, f"Slide {i}", "point", "") for i in range(1, 5)
    )
    batch, _ = await api.engine.submit(BatchRequest(slides, "flat", AspectRatio(16, 9), 1))
    if retry_first:
        await api.engine.cancel(batch.id)
        assert await api.engine.retry_failed(batch.id) == 4
    after_retry = await api.engine.read.status(batch.id)  # the poll that caches the slides
    assert Counter(s.state.value for s in after_retry.results or ()) == {"pending": 4}
    await api.engine.cancel(batch.id)

    stored = await api.database.batches.get_slides(batch.id)
    assert Counter(s.state.value for s in stored) == {"cancelled": 4}
    status = await api.engine.read.status(batch.id)
    assert status.status.value == "cancelled"
    assert Counter(s.state.value for s in status.results or ()) == {"cancelled": 4}
    assert status.progress.completed_slides == 4
