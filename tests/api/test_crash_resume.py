"""A server killed with SIGKILL mid-batch resumes it on restart, paying for no slide twice."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from tests.api.server_process import ServerProcess

from slidebatch.testing.fake_behaviour import FakeUpstreamConfig
from slidebatch.testing.fake_upstream import FakeUpstreamServer

pytestmark = pytest.mark.slow


def _log_lines(log_dir: Path) -> list[str]:
    """Every pipeline log line so far, oldest file first."""
    return [
        line
        for path in sorted(log_dir.glob("pipeline_*.log"))
        for line in path.read_text("utf-8").splitlines()
    ]


def _completed_keys(lines: list[str]) -> Counter[int]:
    keys: Counter[int] = Counter()
    for line in lines:
        event = json.loads(line)
        if event["event"] == "slide_completed":
            keys[event["details"]["slide_key"]] += 1
    return keys


def _done_in_database(data_dir: Path) -> set[int]:
    """The slides the killed server had stored as done (SQLite survives a SIGKILL whole).

    Not its log: a slide's completion line is written after its row is committed, and a
    kill between the two (wider on a loaded machine) leaves a done slide with no line.
    """
    with contextlib.closing(sqlite3.connect(data_dir / "slidebatch.db")) as connection:
        rows = connection.execute("SELECT key FROM slides WHERE state = 'done'").fetchall()
    return {int(key) for (key,) in rows}


def _wait_for(predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_sigkill_mid_batch_then_restart_completes_every_slide_once(tmp_path: Path) -> None:
    """30 slides, kill -9 after a few finish, restart: all done, none paid for twice."""
    config = FakeUpstreamConfig(rpm=10_000, latency_median=0.15, latency_p95=0.2)
    with FakeUpstreamServer(config) as upstream:
        env = {
            "IMAGE_PROVIDER": "openrouter",
            "LLM_API_KEY": "sk-test-crash-resume",
            "LLM_API_BASE": upstream.openrouter_base,
        }
        _kill_and_resume(tmp_path, env, upstream)


def _submit(base_url: str, *, slides: int, workers: int) -> str:
    """A ``?wait=false`` batch of ``slides`` slides at ``max_workers=workers``; its id."""
    body = {
        "slides": [
            {"title": f"Slide {i}", "content_text": f"point {i}"} for i in range(1, slides + 1)
        ],
        "style_prompt": "navy",
        "max_workers": workers,
    }
    accepted = httpx.post(f"{base_url}/api/slide/batch/generate?wait=false", json=body, timeout=10)
    assert accepted.status_code == 202, accepted.text
    return str(accepted.json()["batch_id"])


def _kill_and_resume(tmp_path: Path, env: dict[str, str], upstream: FakeUpstreamServer) -> None:
    first = ServerProcess(tmp_path, env).start()
    try:
        batch_id = _submit(first.base_url, slides=30, workers=2)
        _wait_for(lambda: sum(_completed_keys(_log_lines(first.log_dir)).values()) >= 4, 30)
    finally:
        first.kill()
    finished_before = _done_in_database(tmp_path / "data")
    assert 4 <= len(finished_before) < 30
    lines_before = len(_log_lines(first.log_dir))

    second = ServerProcess(tmp_path, env, port=first.port).start()
    try:

        def done() -> bool:
            status = httpx.get(f"{second.base_url}/api/slide/batch/{batch_id}", timeout=5).json()
            return bool(status["status"] == "completed")

        _wait_for(done, 60)
        status = httpx.get(f"{second.base_url}/api/slide/batch/{batch_id}", timeout=5).json()
    finally:
        second.stop()
    assert status["successful"] == 30
    completed_after = _completed_keys(_log_lines(tmp_path / "logs")[lines_before:])
    assert not set(completed_after) & finished_before, "a finished slide was generated again"
    assert set(completed_after) | finished_before == set(range(30))
    assert max(completed_after.values()) == 1, "a slide was completed twice after the restart"
    # The upstream was paid for each slide once, plus at most the 2 that were in flight
    # (max_workers=2) when the process died: nothing finished was generated again.
    paid = upstream.stats()["totals"]["accepted"]
    assert 30 <= paid <= 32


def test_sigterm_mid_batch_lets_the_requests_in_flight_finish_and_stores_them(
    tmp_path: Path,
) -> None:
    """SIGTERM while 3 requests are in flight (max_workers=3, 1.5 s each): the server starts
    no request after the signal, the 3 finish and are stored, and it exits; a restart then
    pays for the other slides only, so the upstream is asked exactly once per slide (before,
    the shutdown cancelled the requests in flight: billed, then paid again at the restart)."""
    config = FakeUpstreamConfig(rpm=None, latency_median=1.5, latency_p95=1.6, latency_max=1.7)
    with FakeUpstreamServer(config) as upstream:
        env = {
            "IMAGE_PROVIDER": "openrouter",
            "LLM_API_KEY": "sk-test-sigterm",
            "LLM_API_BASE": upstream.openrouter_base,
        }
        first = ServerProcess(tmp_path, env).start()
        try:
            batch_id = _submit(first.base_url, slides=8, workers=3)
            _wait_for(lambda: upstream.stats()["totals"]["requests"] >= 3, 30)
        finally:
            first.stop()  # SIGTERM, then waits for the exit
        sent_before_exit = upstream.stats()["totals"]["requests"]
        stored = _done_in_database(tmp_path / "data")
        assert len(stored) == sent_before_exit  # every request sent was finished and stored
        assert 3 <= sent_before_exit < 8
        second = ServerProcess(tmp_path, env, port=first.port).start()
        try:

            def done() -> bool:
                status = httpx.get(f"{second.base_url}/api/slide/batch/{batch_id}", timeout=5)
                return bool(status.json()["status"] == "completed")

            _wait_for(done, 60)
        finally:
            second.stop()
        assert upstream.stats()["totals"]["requests"] == 8
