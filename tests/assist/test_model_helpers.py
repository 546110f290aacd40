"""Style analysis and outlines through the chat model, against the fake upstream in-process."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
from PIL import Image

from slidebatch.assist.chat import ChatModel, chat_text, user_message
from slidebatch.assist.outline import check_document, model_outline
from slidebatch.assist.style import model_style
from slidebatch.core.slide import SlideType
from slidebatch.errors import (
    InputError,
    PermanentProviderError,
    ProviderError,
    RateLimited,
    TransientProviderError,
)
from slidebatch.testing.clock import FakeClock
from slidebatch.testing.fake_upstream import FakeUpstream, FakeUpstreamConfig, create_fake_upstream

KEY = "sk-chat-test"
MODEL = ChatModel(base_url="http://fake/api/v1", model="google/gemini-2.5-flash", api_key=KEY)
DOCUMENT = """# Decks in one look

## Why batches
Slides drift when drawn alone.
- one look
## How it works
- a gate
- a queue
## Results
Faster decks.
"""


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[httpx.AsyncClient, FakeUpstream]]:
    config = FakeUpstreamConfig(rpm=None, latency_median=0.0, latency_p95=0.0, expected_api_key=KEY)
    app = create_fake_upstream(config)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        yield client, app.state.fake


def _png(colour: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(out, "PNG")
    return out.getvalue()


async def test_style_comes_from_a_vision_call_with_the_image(upstream) -> None:
    """The image goes up as an image_url part; the answer is the model's style prompt."""
    client, fake = upstream
    style = await model_style(client, MODEL, [_png("#1A365D")])
    assert "#1A365D" in style  # the fake names the image's colour
    row = fake.stats.snapshot()["requests"][0]
    assert len(row["input_images"]) == 1
    assert row["status"] == 200


async def test_outline_streams_and_validates_into_a_deck(upstream) -> None:
    """The outline arrives in pieces as written and parses into exactly N slides."""
    client, _ = upstream
    pieces: list[str] = []

    async def on_text(piece: str) -> None:
        pieces.append(piece)

    deck = await model_outline(client, MODEL, DOCUMENT, 5, on_text=on_text)
    assert len(deck.slides) == 5
    assert deck.slides[0].type is SlideType.COVER
    assert deck.slides[-1].type is SlideType.ENDING
    assert [s.title for s in deck.slides[1:4]] == ["Why batches", "How it works", "Results"]
    assert len(pieces) > 5


async def test_a_malformed_outline_is_repaired_once(upstream) -> None:
    """A first answer that is no deck is sent back once with what is wrong; the repair is used."""
    client, fake = upstream
    deck = await model_outline(client, MODEL, DOCUMENT + "[[outline:bad_once]]", 4)
    assert len(deck.slides) == 4
    assert fake.stats.snapshot()["totals"]["requests"] == 2


async def test_a_twice_malformed_outline_is_a_clear_error(upstream) -> None:
    """Two unreadable answers end in one error saying so (a 502, not a half-read deck)."""
    client, fake = upstream
    with pytest.raises(PermanentProviderError, match="also after one repair"):
        await model_outline(client, MODEL, DOCUMENT + "[[outline:bad_always]]", 4)
    assert fake.stats.snapshot()["totals"]["requests"] == 2


async def test_an_empty_document_is_refused_before_any_call(upstream) -> None:
    """An empty document is the user's to fix: InputError, and the upstream is not called."""
    client, fake = upstream
    with pytest.raises(InputError, match="empty"):
        await model_outline(client, MODEL, "  \n ", 4)
    assert fake.stats.snapshot()["totals"]["requests"] == 0


@pytest.mark.parametrize(
    "document",
    ["<!-- -->", "---\n---", "---\ntitle: Plan\naspect_ratio: 16:9\n---\n", "<!-- a -->\n---\n#"],
)
async def test_a_near_empty_document_is_refused_before_any_call(upstream, document: str) -> None:
    """Comments, separators or front matter alone are no document: InputError, no call."""
    client, fake = upstream
    with pytest.raises(InputError, match=r"empty \(only comments, separators or front matter\)"):
        await model_outline(client, MODEL, document, 4)
    assert fake.stats.snapshot()["totals"]["requests"] == 0


@pytest.mark.parametrize(
    "document",
    [
        "---\nA paragraph between rules\n---",
        "---\ntitle: Plan\n---\n# Plan",
        "2027",
        "<!-- x -->增长",
        "---\n  Our plan for next year is bold\n---",
        "---\nSummary: revenue grew 20% in Q3\n---",
        "🚀🎉",
    ],
)
def test_a_document_with_words_is_kept_as_given(document: str) -> None:
    """Any letter, digit or emoji outside comments and YAML-looking front matter (key: value
    lines at the very start) is a document, passed on whole."""
    assert check_document(document, 4) == document


async def test_upstream_errors_are_the_typed_provider_errors(upstream) -> None:
    """A 429 on the chat call is RateLimited, as for images."""
    client, fake = upstream
    from slidebatch.testing.fake_behaviour import Fault

    fake.force(Fault.RATE_LIMIT)
    with pytest.raises(RateLimited):
        await chat_text(client, MODEL, [user_message("hello")])


async def test_a_chat_answer_that_never_ends_stops_at_the_one_deadline() -> None:
    """A stream that writes a piece and then hangs ends at model.timeout on the injected clock
    (the dispatcher's deadline helper): the piece was relayed, the error is an overload."""
    hung = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        event = {"choices": [{"delta": {"content": "# Cover"}}]}
        yield f"data: {json.dumps(event)}\n\n".encode()
        await hung.wait()  # never set: only the deadline ends this answer

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    clock = FakeClock()
    model = replace(MODEL, timeout=90.0, clock=clock)
    pieces: list[str] = []

    async def on_text(piece: str) -> None:
        pieces.append(piece)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(TransientProviderError) as caught:
            await chat_text(client, model, [user_message("hello")], on_text=on_text)
    assert str(caught.value) == "the chat model did not finish within 90 s"
    assert caught.value.overload
    assert pieces == ["# Cover"]
    assert clock.now() == 90.0


async def test_an_error_body_with_http_200_is_the_upstream_s_error_after_one_call() -> None:
    """{"error":{"message":"provider down"}} with 200 raises a ProviderError in those words on
    the first answer: no 'the answer was empty', no repair call."""
    calls: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={"error": {"message": "provider down"}})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(ProviderError, match="provider down"):
            await model_outline(client, MODEL, "# Plan\n- grow", 3)
    assert len(calls) == 1
