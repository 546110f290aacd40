"""Several candidates per slide: regenerate with candidates N, list them, pick one."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from slidebatch.api.app import create_app
from slidebatch.config import load_settings


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = load_settings(
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        image_provider="local",
        local_render_long_side=160,
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _deck() -> dict[str, object]:
    slides = [{"id": "a", "title": "Cover"}, {"id": "b", "title": "Two", "content_text": "x"}]
    return {"slides": slides, "style_prompt": "teal"}


def _candidates_when_done(client: TestClient, batch_id: str, n: int) -> list[dict[str, object]]:
    """The slide's candidates once ``n`` exist and the batch is final again (polled briefly)."""
    url = f"/api/slide/batch/{batch_id}/slides/b/candidates"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = client.get(url).json()["candidates"]
        status = client.get(f"/api/slide/batch/{batch_id}").json()["status"]
        if len(found) >= n and status in ("completed", "partial", "failed"):
            return list(found)
        time.sleep(0.02)
    raise AssertionError("candidates did not arrive")


def test_regenerate_with_candidates_makes_n_and_the_user_picks(client: TestClient) -> None:
    """candidates: 3 makes three rounds, all listed; the last shows; picking the first shows it."""
    batch_id = client.post("/api/slide/batch/generate", json=_deck()).json()["batch_id"]
    answer = client.post(
        f"/api/slide/batch/{batch_id}/slides/b/regenerate",
        json={"visual_desc": "a lighthouse", "candidates": 3},
    )
    assert answer.status_code == 200, answer.text
    found = _candidates_when_done(client, batch_id, 3)
    assert [c["n"] for c in found] == [1, 2, 3]
    assert [c["chosen"] for c in found] == [False, False, True]
    picked = client.post(f"/api/slide/batch/{batch_id}/slides/b/candidates/1/pick")
    assert picked.status_code == 200, picked.text
    assert picked.json()["image_url"] == found[0]["image_url"]
    assert client.get(str(found[0]["image_url"])).status_code == 200
    listed = client.get(f"/api/slide/batch/{batch_id}/slides/b/candidates").json()
    assert [c["chosen"] for c in listed["candidates"]] == [True, False, False]


def test_identical_candidates_have_exactly_one_chosen(client: TestClient) -> None:
    """The offline renderer draws one prompt the same each time, so the three candidates
    share one file: still only the shown one (the last, then the picked) reads chosen, and a
    plain regenerate afterwards leaves none chosen."""
    batch_id = client.post("/api/slide/batch/generate", json=_deck()).json()["batch_id"]
    url = f"/api/slide/batch/{batch_id}/slides/b"
    assert client.post(f"{url}/regenerate", json={"candidates": 3}).status_code == 200
    found = _candidates_when_done(client, batch_id, 3)
    assert len({c["image_url"] for c in found}) == 1  # what made every one read chosen
    assert [c["chosen"] for c in found] == [False, False, True]
    assert client.post(f"{url}/candidates/2/pick").status_code == 200
    listed = client.get(f"{url}/candidates").json()["candidates"]
    assert [c["chosen"] for c in listed] == [False, True, False]
    assert client.post(f"{url}/regenerate", json={}).status_code == 200
    _candidates_when_done(client, batch_id, 3)
    listed = client.get(f"{url}/candidates").json()["candidates"]
    assert [c["chosen"] for c in listed] == [False, False, False]


@pytest.mark.parametrize("candidates", [0, 5, "three", 2.5])
def test_candidates_are_bounded(client: TestClient, candidates: object) -> None:
    """candidates must be a whole number from 1 to 4: anything else is a 422."""
    batch_id = client.post("/api/slide/batch/generate", json=_deck()).json()["batch_id"]
    answer = client.post(
        f"/api/slide/batch/{batch_id}/slides/b/regenerate", json={"candidates": candidates}
    )
    assert answer.status_code == 422


def test_picking_a_missing_candidate_is_404(client: TestClient) -> None:
    """A slide without candidates has nothing to pick."""
    batch_id = client.post("/api/slide/batch/generate", json=_deck()).json()["batch_id"]
    answer = client.post(f"/api/slide/batch/{batch_id}/slides/b/candidates/1/pick")
    assert answer.status_code == 404
    assert client.get(f"/api/slide/batch/{batch_id}/slides/b/candidates").json()["candidates"] == []


def _shown(answer: dict[str, object]) -> object:
    results: list[dict[str, object]] = answer["results"]  # type: ignore[assignment]
    return next(s["image_url"] for s in results if s["slide_id"] == "b")


def test_a_pick_reaches_the_status_answer_its_etag_and_since(client: TestClient) -> None:
    """After a pick, GET status shows the picked image with a new ETag (the old one is no
    longer answered 304), ``?since=`` lists the slide, and the seed's POST status shows it."""
    batch_id = client.post("/api/slide/batch/generate", json=_deck()).json()["batch_id"]
    url = f"/api/slide/batch/{batch_id}"
    regenerate = f"{url}/slides/b/regenerate"
    client.post(regenerate, json={"visual_desc": "a lighthouse", "candidates": 2})
    _candidates_when_done(client, batch_id, 2)
    client.post(regenerate, json={"visual_desc": "a bar chart of sales"})  # no candidate
    found = _candidates_when_done(client, batch_id, 2)
    before = client.get(url)
    assert _shown(before.json()) not in {c["image_url"] for c in found}

    assert client.post(f"{url}/slides/b/candidates/1/pick").status_code == 200

    after = client.get(url)
    assert _shown(after.json()) == found[0]["image_url"]
    assert after.headers["etag"] != before.headers["etag"]
    assert client.get(url, headers={"If-None-Match": before.headers["etag"]}).status_code == 200
    delta = client.get(url, params={"since": before.json()["version"]}).json()
    assert [s["slide_id"] for s in delta["results"]] == ["b"]
    seed = client.post("/api/slide/batch/status", json={"batch_id": batch_id}).json()
    assert _shown(seed) == found[0]["image_url"]
