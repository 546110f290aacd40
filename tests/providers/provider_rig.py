"""The provider test rig: each remote provider wired to the fake upstream in-process."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from PIL import Image

from slidebatch.config import AspectMismatchPolicy
from slidebatch.core.aspect import AspectRatio
from slidebatch.core.slide import Slide, SlideType
from slidebatch.providers.base import ImageRequest, ImageResult
from slidebatch.providers.gemini import GeminiProvider
from slidebatch.providers.openai_images import OpenAIImagesProvider
from slidebatch.providers.openrouter import OpenRouterProvider
from slidebatch.providers.remote import RemoteProvider
from slidebatch.scheduler.clock import SystemClock
from slidebatch.scheduler.deadline import within_deadline
from slidebatch.testing.fake_upstream import FakeUpstream, FakeUpstreamConfig, create_fake_upstream

KEY = "sk-or-v1-test-0f1e2d3c4b5a69788796a5b4"
REMOTE = {
    "openrouter": (OpenRouterProvider, "/api/v1"),
    "gemini": (GeminiProvider, "/v1beta"),
    "openai": (OpenAIImagesProvider, "/v1"),
}
MODELS = {
    "openrouter": "google/gemini-3-pro-image-preview",
    "gemini": "gemini-3-pro-image-preview",
    "openai": "gpt-image-1",
}
FAST = FakeUpstreamConfig(rpm=None, latency_median=0.0, latency_p95=0.0, expected_api_key=KEY)


@dataclass
class Rig:
    provider: RemoteProvider
    fake: FakeUpstream
    attempt_timeout: float

    async def attempt(self, request: ImageRequest) -> ImageResult:
        """One attempt as the dispatcher makes it: bounded by its deadline, and only by it."""
        call = self.provider.generate(request)
        return await within_deadline(call, clock=SystemClock(), seconds=self.attempt_timeout)


@asynccontextmanager
async def rig(
    name: str,
    config: FakeUpstreamConfig = FAST,
    *,
    key: str = KEY,
    attempt_timeout: float = 5.0,
    policy: AspectMismatchPolicy = AspectMismatchPolicy.RETRY,
) -> AsyncIterator[Rig]:
    app = create_fake_upstream(config)
    cls, prefix = REMOTE[name]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        provider = cls(
            client,
            api_key=key,
            base_url=f"http://fake{prefix}",
            model=MODELS[name],
            timeout=attempt_timeout,
            aspect_mismatch=policy,
        )
        yield Rig(provider, app.state.fake, attempt_timeout)


def ask(ratio: str = "16:9", prompt: str = "A slide about rate limits") -> ImageRequest:
    slide = Slide(id="s1", page_num=1, type=SlideType.CONTENT, title="Limits", content_text="x")
    return ImageRequest(
        prompt=prompt, slide=slide, style_prompt="calm blue", aspect_ratio=AspectRatio.parse(ratio)
    )


def served_ratio(name: str, ratio: str) -> AspectRatio:
    """The ratio a provider is expected to deliver (OpenAI only has 1:1, 3:2 and 2:3)."""
    if name == "openai":
        return {"16:9": AspectRatio(3, 2), "9:16": AspectRatio(2, 3)}.get(ratio, AspectRatio(1, 1))
    return AspectRatio.parse(ratio)


def assert_real_image(result: ImageResult, expected: AspectRatio) -> None:
    with Image.open(io.BytesIO(result.data)) as image:
        image.load()
        assert image.size == (result.width, result.height)
    assert result.mime_type == "image/png"
    assert expected.matches(result.width, result.height)
