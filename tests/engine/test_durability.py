"""Issue 20's durability: database outages, crashes mid-attempt and paid images on disk.

Real SQLite in tmp_path through ``build_services``; an outage is injected at the driver
edge (every statement fails with the error a lost disk gives) and a crash is the engine
stopped with an attempt in flight, which leaves the database as ``kill -9`` would.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url
from tests.engine.tcp_proxy import CuttableProxy

from slidebatch.config import Settings, load_settings
from slidebatch.core.aspect import AspectRatio
from slidebatch.core.slide import BatchRequest, Slide, SlideType
from slidebatch.core.states import BatchState, SlideState
from slidebatch.errors import TransientProviderError
from slidebatch.providers.base import ImageRequest, ImageResult
from slidebatch.render import render_slide
from slidebatch.services import Services, build_services

PNG = render_slide(Slide("x", 1, SlideType.CONTENT, "x"), "", AspectRatio(16, 9), long_side=64)
GUARD = 60.0  # seconds: only a guard against a hang, never a measured duration


@dataclass
class Outage:
    """Every SQL statement fails while ``down`` is set (as on a lost disk or server)."""

    down: threading.Event = field(default_factory=threading.Event)
    refused: int = 0

    def attach(self, services: Services) -> None:
        @event.listens_for(services.database.engine.sync_engine, "before_cursor_execute")
        def refuse(*_: Any) -> None:
            if self.down.is_set():
                self.refused += 1
                raise sqlite3.OperationalError("disk I/O error")


@dataclass
class Upstream:
    """A provider that counts paid calls; ``hang`` never answers, ``fail_first`` fails the
    first call transiently, ``on_call`` runs at each call (e.g. to start an outage)."""

    hang: bool = False
    fail_first: bool = False
    on_call: Any = None
    calls: int = 0
    called: asyncio.Event = field(default_factory=asyncio.Event)
    name: str = "scripted"
    credential_id: str = "scripted"

    async def generate(self, request: ImageRequest) -> ImageResult:
        self.calls += 1
        self.called.set()
        if self.on_call is not None:
            self.on_call()
        if self.hang:
            await asyncio.Event().wait()
        if self.fail_first and self.calls == 1:
            raise TransientProviderError("upstream hiccup")
        await asyncio.sleep(0.01)
        return ImageResult(PNG, "image/png", 64, 36, latency_s=0.01, cost=0.01)


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        retry_base_seconds=0.01,
        retry_max_seconds=0.05,
        **overrides,
    )


def _deck(n: int) -> BatchRequest:
    slides = tuple(Slide(f"s{i}", i, SlideType.CONTENT, f"Slide {i}") for i in range(1, n + 1))
    return BatchRequest(slides, "navy", AspectRatio(16, 9), max_workers=2)


@asynccontextmanager
async def _running(settings: Settings, upstream: Upstream) -> AsyncIterator[Services]:
    async with build_services(settings, provider=upstream) as services:
        yield services


def _events(tmp_path: Path, name: str) -> list[dict[str, Any]]:
    found = []
    for path in (tmp_path / "logs").glob("pipeline_*.log"):
        for line in path.read_text("utf-8").splitlines():
            record = json.loads(line)
            if record["event"] == name:
                found.append(record)
    return found


async def _until(predicate: Any) -> None:
    """Poll ``predicate``: what it watches moves in driver threads and on disk."""
    async with asyncio.timeout(GUARD):
        while not predicate():  # noqa: ASYNC110 (no event to wait on across threads)
            await asyncio.sleep(0.01)


async def test_an_outage_mid_batch_is_waited_out_and_the_batch_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database goes away while slides generate: every state write waits for it, the
    batch ends completed once it is back, and each slide was paid for once."""
    monkeypatch.chdir(tmp_path)
    outage = Outage()
    upstream = Upstream(on_call=lambda: outage.down.set() if upstream.calls == 1 else None)
    async with _running(_settings(tmp_path), upstream) as services:
        outage.attach(services)
        batch, _ = await services.engine.submit(_deck(6))
        await _until(lambda: outage.refused >= 5)  # writes failed and are being retried
        outage.down.clear()
        async with asyncio.timeout(GUARD):
            record = await services.engine.wait(batch.id)
        slides = await services.database.batches.get_slides(batch.id)
    assert record.state is BatchState.COMPLETED
    assert [s.state for s in slides] == [SlideState.DONE] * 6
    assert all(
        (tmp_path / "data" / "images" / batch.id / str(s.image_file)).is_file() for s in slides
    )
    assert upstream.calls == 6


async def test_an_image_on_disk_is_not_paid_for_again_after_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The image is written, the database is gone and the process dies before 'done' is
    stored: the restart records the image from disk and never asks the upstream again."""
    monkeypatch.chdir(tmp_path)
    settings = _settings(tmp_path)
    outage = Outage()
    first = Upstream(on_call=outage.down.set)
    async with _running(settings, first) as services:
        outage.attach(services)
        batch, _ = await services.engine.submit(_deck(1))
        folder = tmp_path / "data" / "images" / batch.id
        await _until(lambda: any(folder.glob("*.png")) and outage.refused >= 3)
    # The crash: the slide is still 'generating' in the database, its image on disk.
    second = Upstream()
    async with _running(settings, second) as services:
        async with asyncio.timeout(GUARD):
            record = await services.engine.wait(batch.id)
        slides = await services.database.batches.get_slides(batch.id)
    assert record.state is BatchState.COMPLETED
    assert second.calls == 0, "the image on disk was paid for again"
    assert slides[0].image_file == next(folder.glob("*.png")).name
    assert [e["details"]["slide_key"] for e in _events(tmp_path, "slide_reconciled")] == [0]


async def test_attempts_cut_short_by_crashes_are_not_counted_as_paid_refusals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three crashes mid-attempt, then one real transient failure, with 2 paid attempts
    allowed: the slide still gets its retry and ends done."""
    monkeypatch.chdir(tmp_path)
    settings = _settings(tmp_path, slide_max_attempts=2)
    batch_id = None
    for _ in range(3):
        hanging = Upstream(hang=True)
        async with _running(settings, hanging) as services:
            if batch_id is None:
                batch_id = (await services.engine.submit(_deck(1)))[0].id
            async with asyncio.timeout(GUARD):
                await hanging.called.wait()
    assert batch_id is not None
    flaky = Upstream(fail_first=True)
    async with _running(settings, flaky) as services:
        async with asyncio.timeout(GUARD):
            record = await services.engine.wait(batch_id)
        slides = await services.database.batches.get_slides(batch_id)
    assert record.state is BatchState.COMPLETED, slides[0].error_message
    assert flaky.calls == 2
    assert slides[0].attempts == 2  # the two the upstream answered; no crash counted


@pytest.mark.postgres
async def test_a_postgres_outage_leaves_no_batch_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    """The line to PostgreSQL is cut while 3 batches run and restored later: every batch
    ends completed, every slide is done and paid for once (the issue saw 3 of 3 stay running
    and 12 paid images left 'generating')."""
    monkeypatch.chdir(tmp_path)
    url = make_url(postgres_url)
    proxy = await CuttableProxy(url.host or "127.0.0.1", url.port or 5432).start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    submitted = asyncio.Event()  # the line is cut mid-batch, once every batch is in

    def cut_once() -> None:
        if submitted.is_set() and not proxy.refused:
            proxy.cut()

    upstream = Upstream(on_call=cut_once)
    try:
        settings = _settings(tmp_path, database_url=proxied)
        async with _running(settings, upstream) as services:
            batches = [(await services.engine.submit(_deck(4)))[0].id for _ in range(3)]
            submitted.set()
            await _until(lambda: proxy.refused >= 3)  # the engine's writes are waiting it out
            proxy.restore()
            async with asyncio.timeout(GUARD):
                records = [await services.engine.wait(b) for b in batches]
            slides = [s for b in batches for s in await services.database.batches.get_slides(b)]
    finally:
        await proxy.close()
    assert [r.state for r in records] == [BatchState.COMPLETED] * 3
    assert [s.state for s in slides] == [SlideState.DONE] * 12
    assert upstream.calls == 12
