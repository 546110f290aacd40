"""What each provider sends upstream, and OpenRouter's http(s) image URLs (MockTransport)."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable

import httpx
import pytest
from PIL import Image

from slidebatch.config import AspectMismatchPolicy
from slidebatch.core.aspect import AspectRatio, ImageSize
from slidebatch.core.slide import Slide, SlideType
from slidebatch.errors import PermanentProviderError, TransientProviderError
from slidebatch.providers.base import ImageRequest
from slidebatch.providers.gemini import GeminiProvider
from slidebatch.providers.images import nearest_standard, verify_image
from slidebatch.providers.openai_images import OpenAIImagesProvider, size_for
from slidebatch.providers.openrouter import OpenRouterProvider
from slidebatch.providers.outbound import OutboundPolicy

KEY = "sk-test-key-5566778899aabbcc"


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 20, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def ask(ratio: str = "16:9", refs: tuple[bytes, ...] = ()) -> ImageRequest:
    slide = Slide(id="s", page_num=1, type=SlideType.COVER, title="T")
    return ImageRequest(
        prompt="draw it",
        slide=slide,
        style_prompt="",
        aspect_ratio=AspectRatio.parse(ratio),
        reference_images=refs,
    )


def chat_answer(url: str) -> dict[str, object]:
    return {
        "id": "gen-1",
        "choices": [{"message": {"content": "", "images": [{"image_url": {"url": url}}]}}],
        "usage": {"cost": 0.1},
    }


def recorder(
    answer: Callable[[httpx.Request], httpx.Response],
) -> tuple[list[httpx.Request], httpx.MockTransport]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request)

    return seen, httpx.MockTransport(handle)


async def test_openrouter_sends_modalities_image_config_and_attribution() -> None:
    """The chat request carries the documented fields, the bearer key and reference images."""
    data_url = "data:image/png;base64," + base64.b64encode(png(1344, 768)).decode()
    seen, transport = recorder(lambda r: httpx.Response(200, json=chat_answer(data_url)))
    async with httpx.AsyncClient(transport=transport) as client:
        provider = OpenRouterProvider(
            client, api_key=KEY, base_url="https://gw/api/v1/", model="m", image_size=ImageSize.K2
        )
        result = await provider.generate(ask(refs=(png(8, 8),)))
    request = seen[0]
    body = json.loads(request.content)
    assert str(request.url) == "https://gw/api/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["x-title"] == "slidebatch"
    assert request.headers["http-referer"]
    assert body["modalities"] == ["image", "text"]
    assert body["image_config"] == {"aspect_ratio": "16:9", "image_size": "2K"}
    content = body["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "draw it"}
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert (result.cost, result.upstream_request_id) == (0.1, "gen-1")


async def test_gemini_sends_the_key_header_and_image_config() -> None:
    """generateContent gets x-goog-api-key (not a URL parameter) and imageConfig."""
    answer = {
        "candidates": [
            {
                "content": {
                    "parts": [{"inlineData": {"data": base64.b64encode(png(768, 1344)).decode()}}]
                }
            }
        ]
    }
    seen, transport = recorder(lambda r: httpx.Response(200, json=answer))
    async with httpx.AsyncClient(transport=transport) as client:
        provider = GeminiProvider(client, api_key=KEY, base_url="https://g/v1beta", model="gm")
        result = await provider.generate(ask("9:16"))
    request = seen[0]
    assert str(request.url) == "https://g/v1beta/models/gm:generateContent"
    assert request.headers["x-goog-api-key"] == KEY
    assert KEY not in str(request.url)
    config = json.loads(request.content)["generationConfig"]
    assert config == {
        "responseModalities": ["TEXT", "IMAGE"],
        "imageConfig": {"aspectRatio": "9:16", "imageSize": "1K"},
    }
    assert (result.width, result.height) == (768, 1344)


@pytest.mark.parametrize(
    ("ratio", "size"),
    [("16:9", (1536, 1024)), ("4:3", (1536, 1024)), ("1:1", (1024, 1024)), ("9:16", (1024, 1536))],
)
def test_openai_size_is_the_nearest_supported_one(ratio: str, size: tuple[int, int]) -> None:
    """gpt-image-1 sizes are chosen by the nearest ratio."""
    assert size_for(AspectRatio.parse(ratio)) == size


async def test_openai_sends_the_chosen_size_and_warns_about_the_ratio() -> None:
    """A 16:9 slide asks 1536x1024, is not failed for being 3:2, and says so in a warning."""
    answer = {"data": [{"b64_json": base64.b64encode(png(1536, 1024)).decode()}]}
    seen, transport = recorder(lambda r: httpx.Response(200, json=answer))
    async with httpx.AsyncClient(transport=transport) as client:
        provider = OpenAIImagesProvider(client, api_key=KEY, base_url="https://o/v1", model="gi")
        result = await provider.generate(ask("16:9"))
    assert json.loads(seen[0].content) == {
        "model": "gi",
        "prompt": "draw it",
        "size": "1536x1024",
        "n": 1,
    }
    assert any("no 16:9 size" in warning for warning in result.warnings)


async def public(host: str, port: int) -> list[str]:
    """A resolver for tests: every name is a public address (no network needed)."""
    return ["93.184.216.34"]


CDN = OutboundPolicy(frozenset({"cdn.example"}), public)


async def test_openrouter_downloads_http_image_urls_without_the_key() -> None:
    """An https image URL is fetched (no Authorization header) and checked like a data URL."""
    image = png(1344, 768)

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/chat/completions"):
            return httpx.Response(200, json=chat_answer("https://cdn.example/img.png"))
        return httpx.Response(200, content=image)

    seen, transport = recorder(answer)
    async with httpx.AsyncClient(transport=transport) as client:
        provider = OpenRouterProvider(
            client, api_key=KEY, base_url="https://gw/api/v1", model="m", download_policy=CDN
        )
        result = await provider.generate(ask())
    assert result.data == image
    assert "authorization" not in seen[1].headers


async def test_openrouter_refuses_images_over_the_size_cap() -> None:
    """A download larger than IMAGE_DOWNLOAD_MAX_BYTES fails permanently (0 retries)."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/chat/completions"):
            return httpx.Response(200, json=chat_answer("https://cdn.example/big.png"))
        return httpx.Response(200, content=png(1344, 768))

    _, transport = recorder(answer)
    async with httpx.AsyncClient(transport=transport) as client:
        provider = OpenRouterProvider(
            client,
            api_key=KEY,
            base_url="https://gw/api/v1",
            model="m",
            download_max_bytes=100,
            download_policy=CDN,
        )
        with pytest.raises(PermanentProviderError, match="IMAGE_DOWNLOAD_MAX_BYTES"):
            await provider.generate(ask())


@pytest.mark.parametrize(
    "url", ["data:image/png;base64,!!!notbase64", "data:text/plain,hello", "ftp://x/y.png"]
)
async def test_unusable_image_urls_are_transient(url: str) -> None:
    """Bad base64, a non-base64 data URL or an odd scheme is a malformed (transient) answer."""
    _, transport = recorder(lambda r: httpx.Response(200, json=chat_answer(url)))
    async with httpx.AsyncClient(transport=transport) as client:
        provider = OpenRouterProvider(client, api_key=KEY, base_url="https://gw/api/v1", model="m")
        with pytest.raises(TransientProviderError):
            await provider.generate(ask())


async def test_bytes_that_do_not_decode_are_transient() -> None:
    """An image that Pillow cannot decode is a failed attempt, not a result."""
    with pytest.raises(TransientProviderError, match="does not decode"):
        await verify_image(
            b"\x89PNG\r\n\x1a\nbroken", expected=None, policy=AspectMismatchPolicy.RETRY
        )


def test_custom_ratios_are_asked_as_the_nearest_native_one() -> None:
    """1.91:1 is asked as 16:9 (the nearest native ratio); native ratios stay as they are."""
    assert nearest_standard(AspectRatio.parse("1.91:1")) == AspectRatio(16, 9)
    assert nearest_standard(AspectRatio(4, 3)) == AspectRatio(4, 3)
