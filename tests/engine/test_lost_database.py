"""A SQLite file deleted under a running batch: the batch fails visibly, nothing more is paid."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from PIL import Image

from slidebatch.api.schemas import BatchStatusOut
from slidebatch.config import load_settings
from slidebatch.core.slide import BatchRequest, Slide, SlideType
from slidebatch.core.states import BatchState
from slidebatch.engine.answers import BatchStatus, SlideEvent
from slidebatch.engine.events import BatchEvent
from slidebatch.providers.base import ImageRequest, ImageResult
from slidebatch.services import build_services


class HeldProvider:
    """A PNG per call; every call waits until ``go`` is set."""

    name = "held"
    credential_id = "held-test"

    def __init__(self) -> None:
        self.calls = 0
        self.go = asyncio.Event()

    async def generate(self, request: ImageRequest) -> ImageResult:
        self.calls += 1
        await self.go.wait()
        out = io.BytesIO()
        Image.new("RGB", (64, 36), (self.calls * 40 % 256, 90, 120)).save(out, "PNG")
        return ImageResult(out.getvalue(), "image/png", 64, 36, latency_s=0.0)


def _remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def _all(stream: AsyncIterator[BatchEvent]) -> list[SlideEvent | BatchStatus]:
    return [event.data async for event in stream]


def _events(log_dir: Path) -> list[dict[str, Any]]:
    files = sorted(log_dir.glob("pipeline_*.log"))
    lines = [line for f in files for line in f.read_text(encoding="utf-8").splitlines()]
    return [json.loads(line) for line in lines if line.strip()]


async def test_a_running_batch_fails_visibly_when_its_sqlite_file_is_deleted(
    tmp_path: Path,
) -> None:
    """The file goes while the first image is in flight: that image cannot be stored, so
    the batch ends "failed" with the reason in its status and as its stream's last event,
    its waiters wake, no other slide is sent, and the log names the batch (it stayed
    "running" with a quiet stream, and storage_retry events said batch_id null)."""
    settings = load_settings(
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        image_provider="local",
        batch_default_workers=1,
    )
    provider = HeldProvider()
    deck = tuple(Slide(f"s{i}", i, SlideType.CONTENT, f"Slide {i}") for i in range(1, 4))
    async with build_services(settings, provider=provider) as services:
        batch, _ = await services.engine.submit(BatchRequest(deck, "navy"))
        for _ in range(3000):  # a bound only a hung engine reaches
            if provider.calls:
                break
            await asyncio.sleep(0.01)
        async with services.engine.events.subscribe(batch.id) as stream:
            _remove_database(tmp_path / "data" / "slidebatch.db")
            provider.go.set()
            seen = await asyncio.wait_for(_all(stream), 30)  # it went quiet, for ever
        ended = await asyncio.wait_for(services.engine.wait(batch.id), 10)
        status = await services.engine.read.status(batch.id)
    last = seen[-1]
    assert isinstance(last, BatchStatus)
    assert last.status is BatchState.FAILED
    assert "was deleted" in (last.error or "")
    assert ended.state is BatchState.FAILED
    assert status.status is BatchState.FAILED
    assert "was deleted" in (status.error or "")
    assert "was deleted" in BatchStatusOut.of(status).model_dump()["error"]
    assert provider.calls == 1
    events = _events(tmp_path / "logs")
    failed = [e for e in events if e["event"] == "batch_failed"]
    assert [e["batch_id"] for e in failed] == [batch.id]
    assert all(e["batch_id"] == batch.id for e in events if e["event"] == "storage_retry")
