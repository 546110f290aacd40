"""Hostile or broken upstreams: huge bodies, huge inline images, keys echoed in odd forms."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from provider_rig import KEY, ask
from tests.image_bombs import apng, many_scan_jpeg

from slidebatch.config import AspectMismatchPolicy
from slidebatch.errors import PermanentProviderError, ProviderError
from slidebatch.providers.gemini import GeminiProvider
from slidebatch.providers.images import verify_image
from slidebatch.providers.openrouter import OpenRouterProvider


class Dripping(httpx.AsyncByteStream):
    """An endless body of 1 MiB chunks that counts how many were read."""

    def __init__(self) -> None:
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.sent < 10_000:
            self.sent += 1
            yield b"x" * (1 << 20)


async def test_an_endless_body_is_cut_at_the_cap_not_read_whole() -> None:
    """A body past UPSTREAM_MAX_BODY_BYTES fails permanently after reading just past the cap."""
    stream = Dripping()

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=stream)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        provider = OpenRouterProvider(
            client, api_key=KEY, base_url="http://x/api/v1", model="m", max_body_bytes=4 << 20
        )
        with pytest.raises(PermanentProviderError, match="larger than the cap"):
            await provider.generate(ask())
    assert stream.sent <= 5


async def test_a_declared_oversized_body_is_refused_before_reading() -> None:
    """A Content-Length over the cap is refused without reading the body."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-length": str(1 << 30)}, content=b"{}")

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        provider = GeminiProvider(
            client, api_key=KEY, base_url="http://x/v1beta", model="m", max_body_bytes=1 << 20
        )
        with pytest.raises(PermanentProviderError, match="1,073,741,824"):
            await provider.generate(ask())


async def test_an_inline_image_over_the_byte_cap_is_refused_before_decoding() -> None:
    """A data: image larger than IMAGE_DOWNLOAD_MAX_BYTES is a permanent error naming its size."""
    blob = base64.b64encode(b"\0" * (3 << 20)).decode()
    body = {
        "choices": [
            {"message": {"images": [{"image_url": {"url": f"data:image/png;base64,{blob}"}}]}}
        ]
    }

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=json.dumps(body).encode())

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        provider = OpenRouterProvider(
            client, api_key=KEY, base_url="http://x/api/v1", model="m", download_max_bytes=1 << 20
        )
        with pytest.raises(PermanentProviderError, match="IMAGE_DOWNLOAD_MAX_BYTES") as caught:
            await provider.generate(ask())
    assert "3,145,728" in str(caught.value)


def _echoes() -> Iterator[str]:
    yield KEY[:14]
    yield KEY[-12:]
    yield KEY.upper()
    yield base64.b64encode(KEY.encode()).decode()
    yield base64.b64encode(b"user:" + KEY.encode()).decode()


@pytest.mark.parametrize("echo", list(_echoes()), ids=["prefix", "last12", "upper", "b64", "basic"])
async def test_a_key_echoed_in_any_form_never_reaches_the_error(echo: str) -> None:
    """An upstream echoing a piece, another case or the base64 of the key: the error masks it."""
    body = {"error": {"code": 401, "message": f"Invalid credentials: {echo}"}}

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, content=json.dumps(body).encode())

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        provider = OpenRouterProvider(client, api_key=KEY, base_url="http://x/api/v1", model="m")
        with pytest.raises(ProviderError) as caught:
            await provider.generate(ask())
    message = str(caught.value).lower()
    for i in range(len(KEY) - 7):
        assert KEY[i : i + 8].lower() not in message
    assert echo.lower() not in message


@pytest.mark.parametrize(
    ("data", "says"), [(many_scan_jpeg(300), "300 scans"), (apng(4), "animation")]
)
async def test_an_image_costlier_than_its_pixels_is_refused_undecoded(
    data: bytes, says: str
) -> None:
    """A 300-scan JPEG or an APNG answer: a permanent provider error, nothing decoded."""
    with pytest.raises(PermanentProviderError, match=says):
        await verify_image(data, expected=None, policy=AspectMismatchPolicy.WARN)
