"""The endpoints beyond the seed, in-process: events, cancel, retry, regenerate, delete, exports."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pptx import Presentation

from slidebatch.api.app import create_app
from slidebatch.config import Settings, load_settings


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        image_provider="local",
        local_render_long_side=160,
        **overrides,
    )


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(tmp_path))) as test_client:
        yield test_client


def _deck(n: int = 3, **extra: object) -> dict[str, object]:
    slides = [
        {"id": f"s{i}", "title": f"Slide {i}", "content_text": "a\nb"} for i in range(1, n + 1)
    ]
    return {"slides": slides, "style_prompt": "navy and gold"} | extra


def _run(client: TestClient, n: int = 3) -> dict[str, object]:
    answer = client.post("/api/slide/batch/generate", json=_deck(n))
    assert answer.status_code == 200, answer.text
    result: dict[str, object] = answer.json()
    return result


def test_wait_false_answers_202_with_urls(client: TestClient) -> None:
    """?wait=false answers 202 at once with the status and events URLs."""
    answer = client.post("/api/slide/batch/generate?wait=false", json=_deck())
    assert answer.status_code == 202
    body = answer.json()
    assert body["status_url"] == f"/api/slide/batch/{body['batch_id']}"
    assert body["events_url"].endswith("/events")


def test_events_stream_ends_with_the_batch_event(client: TestClient) -> None:
    """The SSE stream starts with a snapshot and ends with a final batch event."""
    batch_id = _run(client)["batch_id"]
    with client.stream("GET", f"/api/slide/batch/{batch_id}/events") as stream:
        text = "".join(stream.iter_text())
    events = [
        line.removeprefix("event: ").strip()
        for line in text.splitlines()
        if line.startswith("event:")
    ]
    assert events[0] == "snapshot"
    assert events[-1] == "batch"
    data = [json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:")]
    assert data[-1]["status"] == "completed"


def _sse_blocks(text: str) -> list[dict[str, str]]:
    """Each SSE event as {field: value} (comments and pings dropped)."""
    blocks = []
    for raw in text.replace("\r\n", "\n").split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in raw.splitlines() if ": " in line and line[0] != ":"
        )
        if "event" in fields:
            blocks.append(fields)
    return blocks


def test_every_event_has_an_id_and_a_reconnect_gets_the_whole_state(client: TestClient) -> None:
    """id: on every event (the snapshot too); with Last-Event-ID the snapshot is still whole."""
    batch_id = _run(client)["batch_id"]
    with client.stream("GET", f"/api/slide/batch/{batch_id}/events") as stream:
        first = _sse_blocks("".join(stream.iter_text()))
    assert [b["event"] for b in first] == ["snapshot", "batch"]
    assert all(b.get("id", "").isdigit() for b in first), first
    ids = [int(b["id"]) for b in first]
    assert ids == sorted(ids)
    headers = {"Last-Event-ID": first[-1]["id"]}
    with client.stream("GET", f"/api/slide/batch/{batch_id}/events", headers=headers) as stream:
        again = _sse_blocks("".join(stream.iter_text()))
    assert len(json.loads(again[0]["data"])["results"]) == 3


def test_slide_warnings_show_in_status_and_events(client: TestClient) -> None:
    """A glyph no font has is a warning on the slide's status result and its SSE snapshot."""
    deck = _deck(2)
    deck["slides"][1]["title"] = "Hieroglyph \U00013000"  # type: ignore[index]
    answer = client.post("/api/slide/batch/generate", json=deck)
    assert answer.status_code == 200, answer.text
    batch_id = answer.json()["batch_id"]
    results = client.get(f"/api/slide/batch/{batch_id}").json()["results"]
    assert results[0]["warnings"] == []
    assert "U+13000" in results[1]["warnings"][0]
    with client.stream("GET", f"/api/slide/batch/{batch_id}/events") as stream:
        text = "".join(stream.iter_text())
    assert "U+13000" in text


def test_idempotency_key_returns_the_same_batch(client: TestClient) -> None:
    """Two POSTs with the same Idempotency-Key start one batch."""
    headers = {"Idempotency-Key": "abc-123"}
    one = client.post("/api/slide/batch/generate?wait=false", json=_deck(), headers=headers).json()
    two = client.post("/api/slide/batch/generate?wait=false", json=_deck(), headers=headers).json()
    assert one["batch_id"] == two["batch_id"]
    assert client.get("/api/slide/batch").json()["total"] == 1


def test_idempotency_key_reused_with_another_body_is_a_409(client: TestClient) -> None:
    """The same Idempotency-Key with a different deck is refused (409), not silently dropped."""
    headers = {"Idempotency-Key": "one-key"}
    url = "/api/slide/batch/generate?wait=false"
    first = client.post(url, json=_deck(2), headers=headers)
    assert first.status_code == 202
    other = client.post(url, json=_deck(3), headers=headers)
    assert other.status_code == 409
    assert "different request body" in other.json()["detail"]
    workers = client.post(url, json=_deck(2, max_workers=1), headers=headers)
    assert workers.status_code == 409
    same = client.post(url, json=_deck(2), headers=headers)
    assert same.json()["batch_id"] == first.json()["batch_id"]
    assert client.get("/api/slide/batch").json()["total"] == 1


def test_regenerate_with_new_description_changes_the_image(client: TestClient) -> None:
    """Regenerating a slide with a new visual_desc gives it a new prompt and a fresh image."""
    result = _run(client)
    batch_id = result["batch_id"]
    old = result["results"][1]  # type: ignore[index]
    answer = client.post(
        f"/api/slide/batch/{batch_id}/slides/s2/regenerate", json={"visual_desc": "a red kite"}
    )
    assert answer.status_code == 200, answer.text
    # Synchronous regenerate through the seed endpoint waits for it.
    client.post("/api/slide/regenerate", json={"batch_id": batch_id, "slide_id": "s1"})
    status = client.get(f"/api/slide/batch/{batch_id}").json()
    assert status["status"] == "completed"
    new = status["results"][1]
    assert "a red kite" in new["final_prompt"]
    assert new["attempts"] == 1
    assert new["status"] == "done"
    # Image names are content-addressed; the local renderer draws visual_desc (a kite icon).
    assert new["image_url"] != old["image_url"]


def test_regenerate_unknown_slide_is_404(client: TestClient) -> None:
    """Regenerating a slide id the batch does not have is a 404."""
    batch_id = _run(client, 1)["batch_id"]
    answer = client.post(f"/api/slide/batch/{batch_id}/slides/nope/regenerate", json={})
    assert answer.status_code == 404


def test_cancel_of_a_finished_batch_keeps_its_state(client: TestClient) -> None:
    """Cancelling a completed batch changes nothing and answers its status."""
    batch_id = _run(client, 1)["batch_id"]
    answer = client.post(f"/api/slide/batch/{batch_id}/cancel")
    assert answer.status_code == 200
    assert answer.json()["status"] == "completed"


def test_delete_removes_the_batch_and_its_images(client: TestClient) -> None:
    """DELETE answers 204; afterwards the batch and its image URLs are 404."""
    result = _run(client, 1)
    image_url = result["results"][0]["image_url"]  # type: ignore[index]
    assert client.get(image_url).status_code == 200
    assert client.delete(f"/api/slide/batch/{result['batch_id']}").status_code == 204
    assert client.get(f"/api/slide/batch/{result['batch_id']}").status_code == 404
    assert client.get(image_url).status_code == 404


def test_exports_download_with_types_and_names(client: TestClient) -> None:
    """export.pptx/.pdf/.zip stream real files with a content type and a file name."""
    batch_id = _run(client, 2)["batch_id"]
    pptx = client.get(f"/api/slide/batch/{batch_id}/export.pptx")
    assert pptx.status_code == 200
    assert "attachment" in pptx.headers["content-disposition"]
    assert len(Presentation(io.BytesIO(pptx.content)).slides) == 2
    pdf = client.get(f"/api/slide/batch/{batch_id}/export.pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    archive = zipfile.ZipFile(
        io.BytesIO(client.get(f"/api/slide/batch/{batch_id}/export.zip").content)
    )
    assert "manifest.json" in archive.namelist()
    assert client.get(f"/api/slide/batch/{batch_id}/export.doc").status_code == 422


def test_seed_export_pptx_resolves_image_urls(client: TestClient) -> None:
    """POST /export/pptx builds a deck from the project's image URLs."""
    result = _run(client, 2)
    slides = [
        {"title": r["title"], "image_url": r["image_url"]}
        for r in result["results"]  # type: ignore[attr-defined]
    ]
    answer = client.post(
        "/api/export/pptx",
        json={"project": {"title": "Deck", "slides": slides}, "file_name": "演示"},
    )
    assert answer.status_code == 200, answer.text
    assert "filename*=UTF-8''" in answer.headers["content-disposition"]
    assert len(Presentation(io.BytesIO(answer.content)).slides) == 2


def test_list_pages_newest_first(client: TestClient) -> None:
    """GET /slide/batch lists batches newest first with a total."""
    first = _run(client, 1)["batch_id"]
    second = _run(client, 1)["batch_id"]
    page = client.get("/api/slide/batch", params={"limit": 1}).json()
    assert page["total"] == 2
    assert [item["batch_id"] for item in page["items"]] == [second]
    page = client.get("/api/slide/batch", params={"limit": 1, "offset": 1}).json()
    assert [item["batch_id"] for item in page["items"]] == [first]


def test_single_slide_generate_is_synchronous(client: TestClient) -> None:
    """POST /slide/generate answers the seed's {image_url, final_prompt, status}."""
    answer = client.post(
        "/api/slide/generate", json={"title": "Hello", "content_text": "x", "style_prompt": "teal"}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "done"
    assert body["image_url"].startswith("/api/images/")
    assert "Hello" in body["final_prompt"]


def test_deck_parse_reads_markdown(client: TestClient) -> None:
    """POST /deck/parse turns Markdown into slides; bad JSON is a 422 naming the line."""
    markdown = "# One\n\nbody\n\n---\n\n# Two\n"
    answer = client.post("/api/deck/parse", json={"text": markdown, "format": "markdown"})
    assert [s["title"] for s in answer.json()["slides"]] == ["One", "Two"]
    bad = client.post("/api/deck/parse", json={"text": '{"slides": [\n  {"title": }]}'})
    assert bad.status_code == 422
    assert "line 2" in bad.json()["detail"]


def test_openapi_and_health(client: TestClient) -> None:
    """/docs, /openapi.json, /healthz and /readyz answer."""
    assert client.get("/docs").status_code == 200
    assert "/api/slide/batch/generate" in client.get("/openapi.json").json()["paths"]
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["database"] == "ok"


def test_readyz_names_the_scope_its_gate_figures_are_for(client: TestClient) -> None:
    """/readyz's gate figures carry the rate scope key they were counted in."""
    services = client.app.state.services  # type: ignore[attr-defined]
    gate = client.get("/readyz").json()["gate"]
    assert gate["scope"] == services.rate_scope_key
    assert gate["scope"].startswith(services.provider.name)


def test_readyz_says_degraded_while_the_credential_is_parked(client: TestClient) -> None:
    """A parked (or blocked) gate: /readyz answers 200 with status degraded and the reason."""
    assert client.get("/readyz").json()["status"] == "ready"
    services = client.app.state.services  # type: ignore[attr-defined]
    services.gate.park(services.clock.now() + 3600.0, "daily quota spent")
    body = client.get("/readyz").json()
    assert body["status"] == "degraded"
    assert body["gate"]["parked"] == "daily quota spent"


def test_a_batch_on_a_parked_gate_says_what_it_waits_for(client: TestClient) -> None:
    """Status says 'waiting for the upstream quota to reset, next start in N s' while parked."""
    services = client.app.state.services  # type: ignore[attr-defined]
    services.gate.park(services.clock.now() + 3600.0, "daily quota spent")
    accepted = client.post("/api/slide/batch/generate?wait=false", json=_deck(2)).json()
    status = client.get(f"/api/slide/batch/{accepted['batch_id']}").json()
    for _ in range(200):  # admission runs in the background: until the batch is running
        if status["waiting"] is not None:
            break
        time.sleep(0.05)
        status = client.get(f"/api/slide/batch/{accepted['batch_id']}").json()
    assert status["waiting"].startswith("waiting for the upstream quota to reset, next start in")
    assert 3500 < status["next_start_in"] <= 3600
    assert status["estimated_remaining_time"] > 3500
    assert status["waiting_for"] == "quota"
    # Each pending slide says so too; its state stays in the seed's vocabulary.
    for result in status["results"]:
        assert result["state"] == result["status"] == "pending"
        assert result["waiting_for"] == "quota"
        assert 3500 < result["next_start_in"] <= 3600


def test_a_slide_that_does_not_wait_has_no_waiting_fields(client: TestClient) -> None:
    """A done slide answers without waiting_for / next_start_in (left out, not null)."""
    batch = client.post("/api/slide/batch/generate", json=_deck(1)).json()
    status = client.get(f"/api/slide/batch/{batch['batch_id']}").json()
    assert "waiting_for" not in status["results"][0]
    assert "next_start_in" not in status["results"][0]


def test_too_many_slides_is_a_4xx_naming_the_limit(tmp_path: Path) -> None:
    """More slides than BATCH_MAX_SLIDES is refused with the limit's name."""
    with TestClient(create_app(_settings(tmp_path, batch_max_slides=2))) as small:
        answer = small.post("/api/slide/batch/generate", json=_deck(3))
    assert answer.status_code == 422
    assert "BATCH_MAX_SLIDES" in answer.json()["detail"]


def test_absent_max_workers_is_auto_and_explicit_is_clamped(client: TestClient) -> None:
    """No max_workers: auto (null); 'auto' too; 50 is clamped to BATCH_MAX_WORKERS."""
    assert client.post("/api/slide/batch/generate", json=_deck(1)).json()["max_workers"] is None
    auto = client.post("/api/slide/batch/generate", json=_deck(1, max_workers="auto"))
    assert auto.json()["max_workers"] is None
    clamped = client.post("/api/slide/batch/generate", json=_deck(1, max_workers=50))
    assert clamped.json()["max_workers"] == 20


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"slides": [{"title": "a"}], "max_workers": 10**30}, 200),
        ({"slides": [{"title": "\ud800"}]}, 422),
        ({"slides": [{"title": "a\x00b"}]}, 422),
        ({"slides": [{"title": "a"}], "style_prompt": "\udfff"}, 422),
    ],
)
def test_unstorable_input_is_4xx_and_huge_workers_are_clamped(
    client: TestClient, body: dict[str, object], status: int
) -> None:
    """Lone surrogates and NUL are refused with 422; an absurd max_workers is clamped."""
    # Encoded by hand: lone surrogates must travel as JSON escapes, like a buggy client's.
    raw = json.dumps(body).encode()
    answer = client.post(
        "/api/slide/batch/generate", content=raw, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == status, answer.text
    if status == 200:
        assert answer.json()["max_workers"] == 20


def test_malformed_ids_in_paths_are_404(client: TestClient) -> None:
    """Batch and slide ids that cannot exist (bad format, NUL) are plain 404s."""
    assert client.get("/api/slide/batch/not-a-batch").status_code == 404
    assert client.get("/api/slide/batch/%00").status_code == 404
    batch_id = _run(client, 1)["batch_id"]
    answer = client.post(f"/api/slide/batch/{batch_id}/slides/a%00b/regenerate", json={})
    assert answer.status_code == 404


def test_status_carries_an_etag_and_answers_304_while_unchanged(client: TestClient) -> None:
    """The same version twice: the second poll with If-None-Match gets 304 and no body."""
    batch_id = _run(client)["batch_id"]
    first = client.get(f"/api/slide/batch/{batch_id}")
    etag = first.headers["etag"]
    assert first.json()["version"]
    again = client.get(f"/api/slide/batch/{batch_id}", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    other = client.get(f"/api/slide/batch/{batch_id}", headers={"If-None-Match": 'W/"x-0"'})
    assert other.status_code == 200
    assert other.json() == first.json()
    # The seed's POST is never answered 304 (RFC 9110: GET and HEAD only).
    posted = client.post(
        "/api/slide/batch/status", json={"batch_id": batch_id}, headers={"If-None-Match": etag}
    )
    assert posted.status_code == 200
    assert posted.json()["batch_id"] == batch_id
    # A cursor whose digits are not ASCII reads as no cursor (it was a 500).
    odd = client.get(
        f"/api/slide/batch/{batch_id}",
        params={"since": f"{first.json()['version'].partition('.')[0]}.\u2460"},
    )
    assert odd.status_code == 200
    assert len(odd.json()["results"]) == 3


def test_since_returns_only_the_slides_changed_after_that_version(client: TestClient) -> None:
    """?since=<version>: nothing changed, no slides; after a regenerate, only that slide."""
    batch_id = _run(client)["batch_id"]
    full = client.get(f"/api/slide/batch/{batch_id}").json()
    assert len(full["results"]) == 3
    same = client.get(f"/api/slide/batch/{batch_id}", params={"since": full["version"]}).json()
    assert same["results"] == []
    assert same["completed_slides"] == 3
    answer = client.post(f"/api/slide/batch/{batch_id}/slides/s2/regenerate")
    assert answer.status_code == 200, answer.text
    later = client.get(f"/api/slide/batch/{batch_id}", params={"since": full["version"]}).json()
    assert [r["slide_id"] for r in later["results"]] == ["s2"]
    unknown = client.get(f"/api/slide/batch/{batch_id}", params={"since": "elsewhere.1"})
    assert len(unknown.json()["results"]) == 3


def test_the_list_counts_slides_without_loading_them(client: TestClient) -> None:
    """Each listed batch has its counts (one query for the page), newest first."""
    first = _run(client, 2)["batch_id"]
    second = _run(client, 3)["batch_id"]
    page = client.get("/api/slide/batch", params={"limit": 10}).json()
    assert [item["batch_id"] for item in page["items"]] == [second, first]
    assert [item["completed_slides"] for item in page["items"]] == [3, 2]
    assert all(item["results"] is None for item in page["items"])


def test_a_body_that_is_not_json_is_a_422_saying_so(client: TestClient) -> None:
    """Not JSON: the 422 says the body is not valid JSON and where (it said "0: JSON decode
    error")."""
    answer = client.post(
        "/api/slide/batch/generate",
        content=b'{"slides": [{"title": "a"}',
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert detail.startswith("the request body is not valid JSON at character 26 (")
    assert detail.endswith("; send a JSON object")


def test_the_documented_status_of_a_body_that_is_not_json_is_the_one_answered(
    client: TestClient,
) -> None:
    """OpenAPI named 400 for a body that is not JSON while the answer is 422: they agree now."""
    answer = client.post(
        "/api/slide/batch/generate", content=b"nope", headers={"Content-Type": "application/json"}
    )
    responses = client.get("/openapi.json").json()["paths"]["/api/slide/batch/generate"]["post"][
        "responses"
    ]
    assert "not JSON" in responses[str(answer.status_code)]["description"]
    assert all("not JSON" not in r["description"] for c, r in responses.items() if c != "422")


def test_waiting_for_quota_is_left_out_while_nothing_waits(client: TestClient) -> None:
    """No spent quota: the list, the status and the events carry no waiting_for_quota at all."""
    batch_id = _run(client)["batch_id"]
    listed = client.get("/api/slide/batch").json()["items"]
    assert listed
    assert all("waiting_for_quota" not in item for item in listed)
    assert "waiting_for_quota" not in client.get(f"/api/slide/batch/{batch_id}").json()
    with client.stream("GET", f"/api/slide/batch/{batch_id}/events") as stream:
        text = "".join(stream.iter_text())
    assert "waiting_for_quota" not in text


def test_a_status_poll_runs_no_dependency_in_the_thread_pool(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every dependency of a status poll is async: FastAPI hops to its thread pool for none."""
    import fastapi.dependencies.utils as dependency_utils

    batch_id = _run(client, 1)["batch_id"]
    hops: list[object] = []
    real = dependency_utils.run_in_threadpool

    async def counting(call: object, *args: object, **kwargs: object) -> object:
        hops.append(call)
        return await real(call, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(dependency_utils, "run_in_threadpool", counting)
    assert client.get(f"/api/slide/batch/{batch_id}").status_code == 200
    assert client.post("/api/slide/batch/status", json={"batch_id": batch_id}).status_code == 200
    assert hops == []
