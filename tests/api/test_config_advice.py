"""config/validate and config/optimal through the API: one reading of the gate, honest limits."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from slidebatch.api.app import create_app
from slidebatch.config import Settings, load_settings
from slidebatch.providers.base import ImageRequest, ImageResult, RateLimitInfo
from slidebatch.providers.local import LocalRenderer
from slidebatch.services import Services, build_services

OPTIMAL = "/api/slide/batch/config/optimal"


class TeachingProvider:
    """The offline renderer, answering with X-RateLimit figures as OpenRouter does."""

    def __init__(self) -> None:
        self._local = LocalRenderer(long_side=64)

    @property
    def name(self) -> str:
        return "teaching"

    @property
    def credential_id(self) -> str:
        return "teaching-test"

    async def generate(self, request: ImageRequest) -> ImageResult:
        result = await self._local.generate(request)
        limits = RateLimitInfo(limit=20, remaining=19, reset_after=3.0)
        return dataclasses.replace(result, rate_limit=limits)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = load_settings(
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        llm_api_key="sk-test-key-123456",
        batch_max_slides=50,
    )

    @asynccontextmanager
    async def factory(s: Settings) -> AsyncIterator[Services]:
        async with build_services(s, provider=TeachingProvider()) as services:
            yield services

    with TestClient(create_app(settings, services_factory=factory)) as c:
        yield c


def test_validate_and_optimal_read_the_same_learned_limit(client: TestClient) -> None:
    """After the gate learned 20 per ~3 s, validate and optimal name the same rounded window;
    validate no longer says 60 s nor asks for UPSTREAM_RPM as if nothing were known."""
    deck = {"slides": [{"title": "One"}]}
    assert client.post("/api/slide/batch/generate", json=deck).status_code == 200
    check = client.get("/api/slide/batch/config/validate").json()
    current = check["current_config"]
    window = current["effective_window_seconds"]
    assert current["effective_rate"] == 20
    assert current["rate_learned"] is True
    assert window < 60
    assert window == round(window, 2)
    notes = " ".join(client.get(OPTIMAL, params={"slides_count": 50}).json()["performance_notes"])
    shown = re.search(r"20 per ([0-9.]+) s, learned from the upstream", notes)
    assert shown is not None, notes
    assert float(shown.group(1)) == window
    rpm = [a for a in check["recommendations"] if a.startswith("UPSTREAM_RPM")]
    assert rpm
    assert f"20 per {window:g} s" in rpm[0]


def test_optimal_refuses_a_deck_the_server_would_refuse(client: TestClient) -> None:
    """slides_count above BATCH_MAX_SLIDES is a 422 naming the limit, as the batch would be."""
    for answer in (
        client.get(OPTIMAL, params={"slides_count": 51}),
        client.post(OPTIMAL, json={"slides_count": 51}),
    ):
        assert answer.status_code == 422
        assert answer.json()["limit"] == "BATCH_MAX_SLIDES"
        assert "BATCH_MAX_SLIDES=50" in answer.json()["detail"]
    assert client.get(OPTIMAL, params={"slides_count": 50}).status_code == 200


def test_optimal_honours_max_workers_in_post_and_get(client: TestClient) -> None:
    """max_workers: 2 caps the recommendation (it said 10); 'auto' and absent are the same."""
    auto = client.post(OPTIMAL, json={"slides_count": 50}).json()
    posted = client.post(OPTIMAL, json={"slides_count": 50, "max_workers": 2}).json()
    got = client.get(OPTIMAL, params={"slides_count": 50, "max_workers": "2"}).json()
    for capped in (posted, got):
        assert (capped["recommended_workers"], capped["max_workers"]) == (2, 2)
        assert capped["estimated_time_seconds"] > auto["estimated_time_seconds"]
    assert auto["recommended_workers"] > 2
    assert auto["max_workers"] is None
    same = client.get(OPTIMAL, params={"slides_count": 50, "max_workers": "auto"}).json()
    assert same["recommended_workers"] == auto["recommended_workers"]
    bad = client.post(OPTIMAL, json={"slides_count": 5, "max_workers": 0})
    assert bad.status_code == 422
