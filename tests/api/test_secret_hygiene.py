"""A batch run with a known upstream key: the key appears in no log, file or response."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from tests.api.server_process import ServerProcess

from slidebatch.testing.fake_behaviour import FakeUpstreamConfig
from slidebatch.testing.fake_upstream import FakeUpstreamServer

pytestmark = pytest.mark.slow

KEY = "sk-or-v1-THIS-IS-THE-KNOWN-TEST-KEY-0123456789"


def _all_bytes_under(root: Path) -> list[tuple[Path, bytes]]:
    return [(path, path.read_bytes()) for path in root.rglob("*") if path.is_file()]


def _run(root: Path, expected_key: str) -> list[str]:
    """Run a small batch through a real server and the fake upstream; return every answer."""
    config = FakeUpstreamConfig(
        rpm=1000, latency_median=0.01, latency_p95=0.02, expected_api_key=expected_key
    )
    answers: list[str] = []
    with FakeUpstreamServer(config) as upstream:
        env = {
            "IMAGE_PROVIDER": "openrouter",
            "LLM_API_KEY": KEY,
            "LLM_API_BASE": upstream.openrouter_base,
            "RETRY_BASE_SECONDS": "0.01",
            "RETRY_MAX_SECONDS": "0.02",
        }
        server = ServerProcess(root, env).start()
        try:
            with httpx.Client(base_url=server.base_url, timeout=60) as http:
                slides = [
                    {"id": "ok", "title": "Fine"},
                    {"id": "flaky", "title": "Flaky", "visual_desc": "[[fake:500]]"},
                ]
                batch = http.post(
                    "/api/slide/batch/generate", json={"slides": slides, "style_prompt": "teal"}
                )
                answers.append(batch.text)
                batch_id = batch.json()["batch_id"]
                for path in (
                    f"/api/slide/batch/{batch_id}",
                    f"/api/slide/batch/{batch_id}/events",
                    "/api/slide/batch",
                    "/api/slide/batch/config/validate",
                    "/api/slide/batch/config/optimal?slides_count=10",
                    "/api/info",
                    "/readyz",
                    "/metrics",
                    "/openapi.json",
                ):
                    answers.append(http.get(path).text)
        finally:
            server.stop()
    return answers


def test_known_key_never_leaks(tmp_path: Path) -> None:
    """With the right key, nothing the server writes or answers contains it."""
    answers = _run(tmp_path, KEY)
    result = json.loads(answers[0])
    # The marked slide draws a 500 on every attempt: retried to the cap, then failed.
    assert (result["successful"], result["failed"]) == (1, 1)
    assert result["results"][1]["attempts"] == 4
    assert all(KEY not in answer for answer in answers)
    leaks = [str(path) for path, data in _all_bytes_under(tmp_path) if KEY.encode() in data]
    assert not leaks, leaks
    assert list((tmp_path / "logs").glob("pipeline_*.log"))


def test_rejected_key_is_reported_without_the_key(tmp_path: Path) -> None:
    """An upstream 401 that echoes the key fails the slides with a message that omits it."""
    answers = _run(tmp_path, "a-different-key")
    result = json.loads(answers[0])
    assert result["failed"] == 2
    assert "rejected the API key" in result["results"][0]["error_message"]
    assert all(KEY not in answer for answer in answers)
    leaks = [str(path) for path, data in _all_bytes_under(tmp_path) if KEY.encode() in data]
    assert not leaks, leaks
