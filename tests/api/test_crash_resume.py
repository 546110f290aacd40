"""A server killed with SIGKILL mid-batch resumes it on restart, paying for no slide twice."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from tests.api.server_process import ServerProcess

pytestmark = pytest.mark.slow


def _completed_keys(log_dir: Path) -> Counter[int]:
    keys: Counter[int] = Counter()
    for path in log_dir.glob("pipeline_*.log"):
        for line in path.read_text("utf-8").splitlines():
            event = json.loads(line)
            if event["event"] == "slide_completed":
                keys[event["details"]["slide_key"]] += 1
    return keys


def _wait_for(predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_sigkill_mid_batch_then_restart_completes_every_slide_once(tmp_path: Path) -> None:
    """30 slides, kill -9 after a few finish, restart: all done, each finished exactly once."""
    env = {"LOCAL_RENDER_DELAY_SECONDS": "0.15"}
    first = ServerProcess(tmp_path, env).start()
    slides = [{"title": f"Slide {i}", "content_text": f"point {i}"} for i in range(1, 31)]
    try:
        accepted = httpx.post(
            f"{first.base_url}/api/slide/batch/generate?wait=false",
            json={"slides": slides, "style_prompt": "navy", "max_workers": 2},
            timeout=10,
        )
        assert accepted.status_code == 202, accepted.text
        batch_id = accepted.json()["batch_id"]
        _wait_for(lambda: sum(_completed_keys(first.log_dir).values()) >= 4, 30)
    finally:
        first.kill()
    finished_before = set(_completed_keys(first.log_dir))
    assert 4 <= len(finished_before) < 30

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
    completed = _completed_keys(tmp_path / "logs")
    assert len(completed) == 30
    assert max(completed.values()) == 1, "a finished slide was generated again"
