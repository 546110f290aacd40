"""One scenario through slidebatch's real HTTP API, timed from the client's side.

A synchronous scenario is timed around the seed's ``generate`` call. Batches submitted with
``?wait=false`` are timed from just before the first submission to the latest
``finished_at`` the server reports (same machine, same wall clock), so the polling interval
does not blur the figure.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from slidebatch.bench.scenarios import Scenario, deck_body

FINAL_STATES = frozenset({"completed", "completed_with_errors", "failed", "cancelled"})
_POLL_S = 0.2


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """One batch's end as the server reports it; ``finished`` is seconds after the start."""

    slides: int
    successful: int
    finished: float


@dataclass(frozen=True, slots=True)
class ServiceRun:
    """A scenario's outcome; times in wall seconds."""

    makespan: float
    batches: tuple[BatchOutcome, ...]

    @property
    def successful(self) -> int:
        return sum(batch.successful for batch in self.batches)


def run_service(
    client: httpx.Client, scenario: Scenario, tag: str, *, timeout: float
) -> ServiceRun:
    """Run ``scenario`` against the server behind ``client`` (its base URL set)."""
    if scenario.wait:
        return _run_waiting(client, scenario, tag, timeout=timeout)
    return _run_submitted(client, scenario, tag, timeout=timeout)


def _run_waiting(
    client: httpx.Client, scenario: Scenario, tag: str, *, timeout: float
) -> ServiceRun:
    outcomes = []
    started = time.perf_counter()
    for index, spec in enumerate(scenario.batches):
        body = deck_body(spec, f"{tag}-{index}")
        response = client.post("/api/slide/batch/generate", json=body, timeout=timeout)
        response.raise_for_status()
        answer = response.json()
        outcomes.append(
            BatchOutcome(spec.slides, int(answer["successful"]), time.perf_counter() - started)
        )
    return ServiceRun(time.perf_counter() - started, tuple(outcomes))


def _run_submitted(
    client: httpx.Client, scenario: Scenario, tag: str, *, timeout: float
) -> ServiceRun:
    started_wall = time.time()
    ids = []
    for index, spec in enumerate(scenario.batches):
        body = deck_body(spec, f"{tag}-{index}")
        response = client.post("/api/slide/batch/generate", params={"wait": "false"}, json=body)
        response.raise_for_status()
        ids.append(str(response.json()["batch_id"]))
    finals = _follow(client, ids, timeout=timeout)
    outcomes = tuple(
        BatchOutcome(
            int(finals[batch_id]["total_slides"]),
            int(finals[batch_id]["successful"]),
            _wall_seconds(finals[batch_id]["finished_at"]) - started_wall,
        )
        for batch_id in ids
    )
    return ServiceRun(max(o.finished for o in outcomes), outcomes)


def _follow(client: httpx.Client, ids: list[str], *, timeout: float) -> dict[str, dict[str, Any]]:
    """Poll until every batch is final; returns each batch's last status.

    One list request per poll (newest first, so ours are on the first page) keeps the
    load the bench itself puts on the server small.
    """
    deadline = time.monotonic() + timeout
    wanted = set(ids)
    finals: dict[str, dict[str, Any]] = {}
    while len(finals) < len(ids):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(ids) - len(finals)} batches still running after {timeout} s")
        time.sleep(_POLL_S)
        page = client.get("/api/slide/batch", params={"limit": len(ids)}).json()
        for status in page["items"]:
            if status["batch_id"] in wanted and status["status"] in FINAL_STATES:
                finals[status["batch_id"]] = status
    return finals


def _wall_seconds(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()
