"""The seed system's documented flow, end to end, against a real ``slidebatch serve`` process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.api.server_process import ServerProcess

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("seed-flow")).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{server.base_url}/api", timeout=60) as http:
        yield http


def _zh_deck() -> dict[str, object]:
    deck: dict[str, object] = json.loads((EXAMPLES / "deck-zh.json").read_text("utf-8"))
    return deck


@pytest.mark.parametrize("workers", [2, 5, 10])
def test_synchronous_generate_of_the_chinese_deck(client: httpx.Client, workers: int) -> None:
    """POST /slide/batch/generate waits and answers the seed's shape with every slide done."""
    body = _zh_deck() | {"max_workers": workers}
    answer = client.post("/slide/batch/generate", json=body)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert set(result) >= {
        "batch_id",
        "total_slides",
        "successful",
        "failed",
        "total_time",
        "results",
    }
    assert result["total_slides"] == len(body["slides"])  # type: ignore[arg-type]
    assert result["successful"] == result["total_slides"]
    assert result["failed"] == 0
    assert result["max_workers"] == workers
    for slide in result["results"]:
        assert set(slide) >= {
            "slide_id",
            "page_num",
            "title",
            "image_url",
            "final_prompt",
            "status",
            "error_message",
            "generation_time",
        }
        assert slide["status"] == "done"
        image = client.get(slide["image_url"].removeprefix("/api"))
        assert image.status_code == 200
        assert image.content.startswith(b"\x89PNG")

    status = client.post("/slide/batch/status", json={"batch_id": result["batch_id"]})
    assert status.status_code == 200
    assert status.json()["status"] == "completed"
    assert status.json()["progress"] == 1.0


def test_unknown_batch_is_404_json(client: httpx.Client) -> None:
    """Status of a batch that does not exist is a 404 with a JSON detail."""
    answer = client.post("/slide/batch/status", json={"batch_id": "f" * 32})
    assert answer.status_code == 404
    assert "not found" in answer.json()["detail"]


def test_active_count_validate_and_optimal(client: httpx.Client) -> None:
    """active-count, config/validate and config/optimal (POST and GET) answer the seed's keys."""
    active = client.get("/slide/batch/active-count").json()
    assert active["active_batches"] >= 0
    valid = client.get("/slide/batch/config/validate").json()
    assert set(valid) >= {"valid", "issues", "recommendations", "current_config"}
    posted = client.post("/slide/batch/config/optimal", json={"slides_count": 15}).json()
    got = client.get("/slide/batch/config/optimal", params={"slides_count": 15}).json()
    for answer in (posted, got):
        assert set(answer) >= {
            "slides_count",
            "recommended_workers",
            "estimated_time_seconds",
            "estimated_time_formatted",
            "max_possible_workers",
            "performance_notes",
        }
        assert answer["slides_count"] == 15
        assert 1 <= answer["recommended_workers"] <= answer["max_possible_workers"]


def test_max_workers_above_the_maximum_is_capped_not_refused(client: httpx.Client) -> None:
    """max_workers 500 is clamped to BATCH_MAX_WORKERS (20) and the batch runs."""
    body = _zh_deck() | {"max_workers": 500}
    result = client.post("/slide/batch/generate", json=body).json()
    assert result["max_workers"] == 20
    assert result["successful"] == result["total_slides"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"slides": [], "style_prompt": "x"}, 422),
        ({"slides": [{"title": "a"}], "aspect_ratio": "wide"}, 422),
        ({"slides": [{"content_text": "no title"}]}, 422),
        ({"slides": [{"title": "a"}], "max_workers": 0}, 422),
        ({"slides": "nope"}, 422),
    ],
)
def test_bad_requests_are_4xx_json(
    client: httpx.Client, body: dict[str, object], status: int
) -> None:
    """Malformed batch requests answer 4xx with a JSON detail, never a 500."""
    answer = client.post("/slide/batch/generate", json=body)
    assert answer.status_code == status, answer.text
    assert answer.json()["detail"]


def test_not_json_is_4xx(client: httpx.Client) -> None:
    """A body that is not JSON is a 422 with a detail."""
    answer = client.post(
        "/slide/batch/generate", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 422
    assert answer.json()["detail"]
