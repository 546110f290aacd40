"""The seed's analyze and outline routes: through the chat model when one is configured (the
fake upstream on loopback), offline without one; bad input a clear 4xx before any call."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from slidebatch.api.app import create_app
from slidebatch.assist.outline import MAX_DOCUMENT_CHARS, check_document
from slidebatch.config import load_settings
from slidebatch.errors import InputError
from slidebatch.testing.fake_behaviour import FakeUpstreamConfig, Fault
from slidebatch.testing.fake_upstream import FakeUpstreamServer

KEY = "sk-or-v1-assist-routes-0123456789"
DOCUMENT = """# Decks in one look

## Why batches
- Slides drift when drawn alone
- One look holds them together

## How it works
- A gate per credential
- A fair queue

## Results
- Faster decks
"""


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstreamServer]:
    config = FakeUpstreamConfig(rpm=None, latency_median=0.0, latency_p95=0.0, expected_api_key=KEY)
    with FakeUpstreamServer(config) as server:
        yield server


def _client(tmp_path: Path, **settings: Any) -> TestClient:
    return TestClient(
        create_app(load_settings(data_dir=tmp_path / "data", log_dir=tmp_path / "logs", **settings))
    )


@pytest.fixture
def model(tmp_path: Path, upstream: FakeUpstreamServer) -> Iterator[TestClient]:
    """The server's provider is OpenRouter at the fake upstream: the helpers call its chat."""
    upstream.reset_stats()
    settings = {"image_provider": "openrouter", "llm_api_key": KEY}
    with _client(tmp_path, llm_api_base=upstream.openrouter_base, **settings) as client:
        yield client


@pytest.fixture
def offline(tmp_path: Path) -> Iterator[TestClient]:
    """The local renderer: no chat model, the offline methods answer."""
    with _client(tmp_path, image_provider="local") as client:
        yield client


def _png(colour: str = "#1A365D") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(out, "PNG")
    return out.getvalue()


def _files(data: bytes, name: str = "ref.png") -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (name, data, "image/png"))]


def _messages(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


def _chat_requests(upstream: FakeUpstreamServer) -> list[dict[str, Any]]:
    return list(upstream.stats()["requests"])


def test_analyze_is_a_vision_call_with_the_image(
    model: TestClient, upstream: FakeUpstreamServer
) -> None:
    """With a chat model the style prompt is its answer; the image went up as an input image."""
    answer = model.post("/api/template/analyze", files=_files(_png()))
    assert answer.status_code == 200, answer.text
    assert "#1A365D" in answer.json()["style_prompt"]
    rows = _chat_requests(upstream)
    assert [len(r["input_images"]) for r in rows] == [1]


def test_analyze_stream_relays_the_model_s_lines(
    model: TestClient, upstream: FakeUpstreamServer
) -> None:
    """The stream's chunks are the model's lines as written; joined they are the prompt."""
    answer = model.post("/api/template/analyze-stream", files=_files(_png()))
    assert answer.status_code == 200
    messages = _messages(answer.text)
    chunks = [m["content"] for m in messages if m["type"] == "chunk"]
    assert len(chunks) > 1
    assert messages[-1]["type"] == "complete"
    assert "\n".join(chunks) == messages[-1]["style_prompt"]
    assert "模型" in " ".join(m.get("message", "") for m in messages)
    assert len(_chat_requests(upstream)) == 1


def test_offline_analyze_calls_nothing(offline: TestClient) -> None:
    """Without a chat model the offline method names the colours."""
    answer = offline.post("/api/template/analyze", files=_files(_png("#A03020")))
    assert answer.status_code == 200
    assert "#A03020" in answer.json()["style_prompt"]


def test_outline_is_written_by_the_model(model: TestClient, upstream: FakeUpstreamServer) -> None:
    """generate: the fake model's Markdown deck, read back into the seed's slides."""
    answer = model.post("/api/outline/generate", json={"text": DOCUMENT, "slide_count": 5})
    assert answer.status_code == 200, answer.text
    slides = answer.json()["slides"]
    assert [s["title"] for s in slides] == [
        "Decks in one look",
        "Why batches",
        "How it works",
        "Results",
        "Thank you",
    ]
    assert [s["type"] for s in slides] == ["cover", "content", "content", "content", "ending"]
    assert len(_chat_requests(upstream)) == 1


def test_outline_stream_shows_the_text_then_the_slides(model: TestClient) -> None:
    """generate-stream: start, progress, the model's text in chunks, a slide each, complete."""
    body = {"text": DOCUMENT, "slide_count": 5}
    messages = _messages(model.post("/api/outline/generate-stream", json=body).text)
    kinds = [m["type"] for m in messages]
    assert kinds[0] == "start"
    assert kinds.count("chunk") > 3
    assert kinds.index("chunk") < kinds.index("slide")
    assert kinds.count("slide") == 5
    assert kinds[-1] == "complete"
    assert "# Why batches" in "".join(m["content"] for m in messages if m["type"] == "chunk")


def test_insert_slide_through_the_model(model: TestClient, upstream: FakeUpstreamServer) -> None:
    """insert-slide asks the model for one slide; it lands as a content slide after the page."""
    body = {"user_prompt": "Customer story: delivery cut by 30%.", "insert_after_page_num": 2}
    answer = model.post("/api/outline/insert-slide", json=body)
    assert answer.status_code == 200, answer.text
    slide = answer.json()["slide"]
    assert (slide["page_num"], slide["type"]) == (3, "content")
    assert slide["title"].startswith("Customer story")
    assert len(_chat_requests(upstream)) == 1


@pytest.mark.parametrize(
    ("fault", "status"), [(Fault.RATE_LIMIT, 503), (Fault.ERROR_500, 502), (Fault.NO_CREDITS, 503)]
)
def test_upstream_failures_are_clear_5xx(
    model: TestClient, upstream: FakeUpstreamServer, fault: Fault, status: int
) -> None:
    """The model's 429, 500 or spent credits: a 5xx saying so, never a 500 with a traceback."""
    upstream.force(fault)
    answer = model.post("/api/outline/generate", json={"text": DOCUMENT, "slide_count": 5})
    assert answer.status_code == status, answer.text
    assert answer.json()["detail"]
    assert KEY not in answer.text


def test_an_unreadable_outline_is_502_and_an_error_line_in_a_stream(model: TestClient) -> None:
    """Two malformed answers: 502 'also after one repair'; the stream ends with an error line."""
    body = {"text": DOCUMENT + "[[outline:bad_always]]", "slide_count": 4}
    answer = model.post("/api/outline/generate", json=body)
    assert answer.status_code == 502
    assert "also after one repair" in answer.json()["detail"]
    streamed = _messages(model.post("/api/outline/generate-stream", json=body).text)
    assert streamed[-1]["type"] == "error"
    assert "also after one repair" in streamed[-1]["message"]


BAD_UPLOADS = [
    (b"this is a text file, not an image", 422, "not an image"),
    (b"\x89PNG" + b"\0" * (50 * 1024 * 1024), 413, "bytes"),
    (b"", 422, "empty"),
]


@pytest.mark.parametrize("client_name", ["model", "offline"])
@pytest.mark.parametrize("path", ["/api/template/analyze", "/api/template/analyze-stream"])
@pytest.mark.parametrize(("data", "status", "words"), BAD_UPLOADS)
def test_bad_uploads_are_a_clear_4xx(
    request: pytest.FixtureRequest,
    upstream: FakeUpstreamServer,
    client_name: str,
    path: str,
    data: bytes,
    status: int,
    words: str,
) -> None:
    """Not an image 422, a 50 MB upload 413, an empty file 422: said, and nothing called."""
    client: TestClient = request.getfixturevalue(client_name)
    upstream.reset_stats()
    answer = client.post(path, files=_files(data))
    assert answer.status_code == status, answer.text
    assert words in answer.json()["detail"]
    assert _chat_requests(upstream) == []


@pytest.mark.parametrize("client_name", ["model", "offline"])
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/outline/generate", {"text": " \n\t ", "slide_count": 5}),
        ("/api/outline/generate-stream", {"text": "", "slide_count": 5}),
        ("/api/outline/insert-slide", {"user_prompt": "   ", "insert_after_page_num": 1}),
        ("/api/outline/generate", {"text": "<!-- -->", "slide_count": 5}),
        ("/api/outline/generate-stream", {"text": "---\n---", "slide_count": 5}),
        ("/api/outline/generate", {"text": "---\ntitle: Plan\n---\n", "slide_count": 5}),
        ("/api/outline/insert-slide", {"user_prompt": "<!-- -->", "insert_after_page_num": 1}),
    ],
)
def test_an_empty_document_is_422(
    request: pytest.FixtureRequest,
    upstream: FakeUpstreamServer,
    client_name: str,
    path: str,
    body: dict[str, Any],
) -> None:
    """An empty, blank or near-empty (comment, front matter only) document is the client's to
    fix, before any call or stream."""
    client: TestClient = request.getfixturevalue(client_name)
    upstream.reset_stats()
    answer = client.post(path, json=body)
    assert answer.status_code == 422, answer.text
    assert "empty" in answer.json()["detail"]
    assert _chat_requests(upstream) == []


@pytest.mark.parametrize("path", ["/api/outline/generate", "/api/outline/generate-stream"])
def test_a_50_mb_document_is_413(offline: TestClient, path: str) -> None:
    """A 50 MB document is refused by size before it is parsed."""
    body = json.dumps({"text": "word " * (10 * 1024 * 1024), "slide_count": 5})
    answer = offline.post(path, content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 413
    assert "MAX_BODY_BYTES" in answer.json()["detail"]


def test_a_failing_vision_call_is_502_and_an_error_line_in_the_stream(
    model: TestClient, upstream: FakeUpstreamServer
) -> None:
    """The model's 500 on a style analysis: 502 said; in the stream, an error line at the end."""
    upstream.force(Fault.ERROR_500)
    answer = model.post("/api/template/analyze", files=_files(_png()))
    assert answer.status_code == 502
    assert answer.json()["detail"]
    upstream.force(Fault.ERROR_500)
    streamed = model.post("/api/template/analyze-stream", files=_files(_png()))
    assert streamed.status_code == 200  # the images were fine; the model failed later
    messages = _messages(streamed.text)
    assert messages[-1]["type"] == "error"
    assert "chat model failed" in messages[-1]["message"]
    assert KEY not in streamed.text


def test_the_settings_page_shows_tests_and_saves_the_model_the_routes_call(
    tmp_path: Path, upstream: FakeUpstreamServer
) -> None:
    """/api/config shows LLM_CHAT_MODEL, the test calls it; a saved model is the one called."""
    upstream.reset_stats()
    settings = {"image_provider": "openrouter", "llm_api_key": KEY}
    with _client(
        tmp_path, llm_api_base=upstream.openrouter_base, llm_chat_model="acme/env-chat", **settings
    ) as client:
        assert client.get("/api/config").json()["llm_chat_model"] == "acme/env-chat"
        outline = {"text": DOCUMENT, "slide_count": 3}
        assert client.post("/api/outline/generate", json=outline).status_code == 200
        assert client.post("/api/config/test", json={}).json()["success"] is True
        saved = client.post("/api/config", json={"llm_chat_model": "acme/saved-chat"})
        assert saved.json()["llm_chat_model"] == "acme/saved-chat"
        assert client.post("/api/outline/generate", json=outline).status_code == 200
        assert client.post("/api/config/test", json={}).json()["model"] == "acme/saved-chat"
    called = [row["model"] for row in _chat_requests(upstream)]
    assert called == ["acme/env-chat", "acme/env-chat", "acme/saved-chat", "acme/saved-chat"]


@pytest.mark.parametrize("path", ["/api/outline/generate", "/api/outline/generate-stream"])
def test_offline_a_document_with_no_text_is_422_and_markup_text_is_outlined(
    offline: TestClient, path: str
) -> None:
    """Offline, code without a comment is 422 before any stream; HTML's text is outlined."""
    refused = offline.post(path, json={"text": "```\nx = 1\n```", "slide_count": 4})
    assert refused.status_code == 422, refused.text
    assert "no text to outline" in refused.json()["detail"]
    kept = offline.post(path, json={"text": "<b>hi there</b>", "slide_count": 4})
    assert kept.status_code == 200
    assert "hi there" in kept.text


def test_a_long_document_is_outlined_whole_and_one_over_the_limit_is_refused(
    offline: TestClient,
) -> None:
    """Up to MAX_DOCUMENT_CHARS the whole document is read (its end too); over it, a 422
    naming the limit, from the API and from check_document alike."""
    document = "## Intro\n" + "Words go here. " * 8_000 + "\n\n## Finale\n- the end\n"
    assert 60_000 < len(document) <= MAX_DOCUMENT_CHARS
    answer = offline.post("/api/outline/generate", json={"text": document, "slide_count": 4})
    assert answer.status_code == 200, answer.text[:300]
    assert "Finale" in [slide["title"] for slide in answer.json()["slides"]]
    too_long = "x" * (MAX_DOCUMENT_CHARS + 1)
    refused = offline.post("/api/outline/generate", json={"text": too_long, "slide_count": 4})
    assert refused.status_code == 422
    assert str(MAX_DOCUMENT_CHARS) in refused.text
    with pytest.raises(InputError, match=f"the limit is {MAX_DOCUMENT_CHARS}"):
        check_document(too_long, 4)


def test_a_rate_limited_chat_is_503_with_the_upstream_s_retry_after(
    model: TestClient, upstream: FakeUpstreamServer
) -> None:
    """The model's 429 with Retry-After: 60 reaches the client as 503 with Retry-After: 60."""
    upstream.force(Fault.RATE_LIMIT)
    answer = model.post("/api/outline/generate", json={"text": DOCUMENT, "slide_count": 5})
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "60"


@pytest.mark.parametrize("path", ["/api/outline/generate", "/api/outline/generate-stream"])
def test_an_error_in_a_200_is_the_upstream_s_message_without_a_repair(
    model: TestClient, upstream: FakeUpstreamServer, path: str
) -> None:
    """An error body with HTTP 200 is reported in the upstream's words after one call, not
    as 'the answer was empty' after a repair call."""
    upstream.force(Fault.ERROR_IN_200)
    answer = model.post(path, json={"text": DOCUMENT, "slide_count": 5})
    said = answer.json()["detail"] if path.endswith("generate") else _messages(answer.text)[-1]
    assert "upstream connect error" in str(said)
    assert "empty" not in str(said)
    assert len(_chat_requests(upstream)) == 1
