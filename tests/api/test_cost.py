"""Cost through the API: estimates before submitting, spend in status, max_cost, usage today."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from slidebatch.api.app import create_app
from slidebatch.config import Settings, load_settings
from slidebatch.providers.base import ImageRequest, ImageResult
from slidebatch.providers.local import LocalRenderer
from slidebatch.services import Services, build_services

PRICE = 0.25


class PricedProvider:
    """The offline renderer, reporting ``usage.cost`` like OpenRouter (and slow enough to watch)."""

    def __init__(self, *, delay: float = 0.0) -> None:
        self._local = LocalRenderer(long_side=64)
        self._delay = delay

    @property
    def name(self) -> str:
        return "priced"

    @property
    def credential_id(self) -> str:
        return "priced-test"

    async def generate(self, request: ImageRequest) -> ImageResult:
        if self._delay:
            await asyncio.sleep(self._delay)
        result = await self._local.generate(request)
        return dataclasses.replace(result, cost=PRICE)


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data", log_dir=tmp_path / "logs", image_provider="local", **overrides
    )


def _client(settings: Settings, provider: PricedProvider) -> TestClient:
    @asynccontextmanager
    async def factory(s: Settings) -> AsyncIterator[Services]:
        async with build_services(s, provider=provider) as services:
            yield services

    return TestClient(create_app(settings, services_factory=factory))


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with _client(_settings(tmp_path, upstream_price_per_image=0.5), PricedProvider()) as c:
        yield c


def _deck(n: int, **extra: object) -> dict[str, object]:
    return {"slides": [{"title": f"S{i}"} for i in range(1, n + 1)], **extra}


def test_estimate_uses_the_configured_price_then_the_measured_one(client: TestClient) -> None:
    """Before any image: UPSTREAM_PRICE_PER_IMAGE; after some: the reported usage.cost."""
    before = client.get("/api/slide/batch/config/optimal", params={"slides_count": 4}).json()
    assert (before["cost_basis"], before["cost_per_image"], before["estimated_cost"]) == (
        "configured",
        0.5,
        2.0,
    )
    assert client.post("/api/slide/batch/generate", json=_deck(2)).status_code == 200
    after = client.get("/api/slide/batch/config/optimal", params={"slides_count": 4}).json()
    assert (after["cost_basis"], after["estimated_cost"]) == ("measured", 4 * PRICE)


def test_status_reports_the_spend_and_the_estimate(client: TestClient) -> None:
    """A finished batch's status carries cost (the sum of usage.cost) and its estimate."""
    batch_id = client.post("/api/slide/batch/generate", json=_deck(3)).json()["batch_id"]
    status = client.get(f"/api/slide/batch/{batch_id}").json()
    assert status["cost"] == pytest.approx(3 * PRICE)
    assert status["estimated_cost"] == pytest.approx(3 * PRICE)
    assert all(r["cost"] == PRICE for r in status["results"])
    listed = client.get("/api/slide/batch").json()["items"]
    assert listed[0]["cost"] == pytest.approx(3 * PRICE)
    assert listed[0]["estimated_cost"] == status["estimated_cost"]  # the list said null


def test_the_list_reads_counts_and_spend_in_one_statement(client: TestClient) -> None:
    """Listing batches reads the slides table once (counts and spend together), however many
    batches are listed: the costs are no second query over the listed ids."""
    for n in (1, 2, 3):
        assert client.post("/api/slide/batch/generate", json=_deck(n)).status_code == 200
    database = client.app.state.services.database  # type: ignore[attr-defined]
    seen: list[str] = []

    def record(*args: object) -> None:
        seen.append(str(args[2]))

    # The read engine (when not the engine itself) fires the engine's events too.
    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    try:
        listed = client.get("/api/slide/batch").json()["items"]
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", record)
    assert [item["cost"] for item in listed] == pytest.approx([3 * PRICE, 2 * PRICE, PRICE])
    assert [item["successful"] for item in listed] == [3, 2, 1]
    assert len([sql for sql in seen if "slides" in sql]) == 1


def test_max_cost_below_the_estimate_is_refused_before_any_work(client: TestClient) -> None:
    """max_cost under the estimate: 422 naming max_cost; nothing is stored."""
    answer = client.post("/api/slide/batch/generate", json=_deck(4, max_cost=1.0))
    assert answer.status_code == 422
    assert "max_cost" in answer.json()["detail"]
    assert client.get("/api/slide/batch").json()["total"] == 0


def test_usage_today_sums_the_keys_spend(client: TestClient) -> None:
    """GET /api/usage: in open mode there is no key to count for; the answer says so."""
    client.post("/api/slide/batch/generate", json=_deck(1))
    usage = client.get("/api/usage").json()
    assert usage["key_id"] is None
    assert usage["spent"] is None


def test_max_cost_stops_a_batch_whose_images_cost_more_than_estimated(tmp_path: Path) -> None:
    """Priced at 0.1 but each image reports 0.25: a 1.0 cap stops the batch before passing it."""
    settings = _settings(tmp_path, upstream_price_per_image=0.1, batch_default_workers=1)
    with _client(settings, PricedProvider(delay=0.05)) as client:
        answer = client.post("/api/slide/batch/generate", json=_deck(8, max_cost=1.0))
        assert answer.status_code == 200, answer.text
        status = client.get(f"/api/slide/batch/{answer.json()['batch_id']}").json()
    assert status["status"] == "cancelled"
    assert status["cost"] <= 1.0
    assert status["successful"] >= 3
    assert any(r["state"] == "cancelled" for r in status["results"])


def test_the_event_stream_carries_the_cost(client: TestClient) -> None:
    """The SSE snapshot has the batch's cost and every slide's cost."""
    batch_id = client.post("/api/slide/batch/generate", json=_deck(2)).json()["batch_id"]
    with client.stream("GET", f"/api/slide/batch/{batch_id}/events") as stream:
        text = "".join(stream.iter_text())
    data = [json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:")]
    snapshot = data[0]
    assert snapshot["cost"] == pytest.approx(2 * PRICE)
    assert [r["cost"] for r in snapshot["results"]] == [PRICE, PRICE]


def test_each_slide_answer_carries_its_spend(client: TestClient) -> None:
    """A slide regenerated once: its cost is one image, its spent two, in the status results,
    the seed's /slide/regenerate answer and the SSE snapshot (additive fields)."""
    batch_id = client.post("/api/slide/batch/generate", json=_deck(2)).json()["batch_id"]
    [first, _] = client.get(f"/api/slide/batch/{batch_id}").json()["results"]
    assert (first["cost"], first["spent"]) == (PRICE, PRICE)
    body = {"batch_id": batch_id, "slide_id": first["slide_id"]}
    single = client.post("/api/slide/regenerate", json=body)
    assert single.status_code == 200, single.text
    assert (single.json()["cost"], single.json()["spent"]) == (PRICE, pytest.approx(2 * PRICE))
    results = client.get(f"/api/slide/batch/{batch_id}").json()["results"]
    assert [r["spent"] for r in results] == [pytest.approx(2 * PRICE), PRICE]
    with client.stream("GET", f"/api/slide/batch/{batch_id}/events") as stream:
        text = "".join(stream.iter_text())
    snapshot = json.loads(next(ln[5:] for ln in text.splitlines() if ln.startswith("data:")))
    assert snapshot["results"][0]["spent"] == pytest.approx(2 * PRICE)


def test_the_offline_renderer_costs_zero_everywhere(tmp_path: Path) -> None:
    """The local renderer is known to be free: 0, not null (null means a price not known),
    in the estimate, the status (batch and slides, cost and spent) and the batch list."""
    with TestClient(create_app(_settings(tmp_path))) as client:
        optimal = client.get("/api/slide/batch/config/optimal", params={"slides_count": 2})
        assert (optimal.json()["cost_basis"], optimal.json()["estimated_cost"]) == ("free", 0.0)
        batch_id = client.post("/api/slide/batch/generate", json=_deck(2)).json()["batch_id"]
        status = client.get(f"/api/slide/batch/{batch_id}").json()
        listed = client.get("/api/slide/batch").json()["items"]
    assert status["cost"] == 0.0
    assert [(r["cost"], r["spent"]) for r in status["results"]] == [(0.0, 0.0)] * 2
    assert listed[0]["cost"] == 0.0


def test_max_cost_with_no_price_known_lets_the_first_image_price_the_rest(
    tmp_path: Path,
) -> None:
    """No price configured or measured, a 0.01 cap, images at 0.25: the first image starts
    alone, its cost is above the cap, the other is cancelled; the batch ends ``cancelled``
    with ``stop_reason`` max_cost (before: both drawn, ``completed`` with that reason)."""
    settings = _settings(tmp_path, batch_default_workers=4)
    with _client(settings, PricedProvider(delay=0.02)) as client:
        answer = client.post("/api/slide/batch/generate", json=_deck(2, max_cost=0.01))
        assert answer.status_code in (200, 202), answer.text
        batch_id = answer.json()["batch_id"]
        status = _final(client, batch_id)
    assert status["status"] == "cancelled"
    assert status["stop_reason"] == "max_cost"
    assert status["successful"] == 1
    assert status["cost"] == pytest.approx(PRICE)


def test_max_cost_prices_in_flight_images_at_what_the_upstream_charged(tmp_path: Path) -> None:
    """Configured 0.05, charged 0.25, a 1.0 cap and 12 slides on 12 workers: the first image
    alone, then as many as fit at 0.25 (3): 4 paid, 1.0, never past the cap (before: all 12
    started at once at the configured price, 3.0 spent)."""
    settings = _settings(tmp_path, upstream_price_per_image=0.05, batch_default_workers=12)
    with _client(settings, PricedProvider(delay=0.02)) as client:
        answer = client.post("/api/slide/batch/generate", json=_deck(12, max_cost=1.0))
        assert answer.status_code in (200, 202), answer.text
        status = _final(client, answer.json()["batch_id"])
    assert status["cost"] <= 1.0 + 1e-9
    assert status["successful"] == 4
    assert status["status"] == "cancelled"
    assert status["stop_reason"] == "max_cost"


def _final(client: TestClient, batch_id: str) -> dict[str, object]:
    """The batch's status once it is final (the test client runs the app's loop meanwhile)."""
    for _ in range(2000):
        status = client.get(f"/api/slide/batch/{batch_id}").json()
        if status["status"] in ("completed", "completed_with_errors", "failed", "cancelled"):
            return status
    raise AssertionError(f"batch {batch_id} did not end: {status}")
