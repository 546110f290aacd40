"""IMAGE_PROVIDER_FALLBACK: a slide moves on when a provider is out of quota or refuses."""

from __future__ import annotations

import httpx
import pytest
from provider_rig import KEY, ask

from slidebatch.config import ProviderName, load_settings
from slidebatch.errors import ConfigError, QuotaExhausted, Refused, TransientProviderError
from slidebatch.providers.fallback import FallbackProvider
from slidebatch.providers.gemini import GeminiProvider
from slidebatch.providers.openrouter import OpenRouterProvider
from slidebatch.providers.registry import build_provider
from slidebatch.testing.fake_upstream import FakeUpstreamConfig, Fault, create_fake_upstream

CONFIG = FakeUpstreamConfig(rpm=None, latency_median=0.0, latency_p95=0.0)


class Wall:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def chain(client: httpx.AsyncClient, wall: Wall) -> FallbackProvider:
    primary = OpenRouterProvider(client, api_key=KEY, base_url="http://fake/api/v1", model="m")
    second = GeminiProvider(client, api_key=KEY, base_url="http://fake/v1beta", model="g")
    return FallbackProvider([primary, second], recheck=600.0, wall=wall)


async def test_a_spent_quota_moves_the_slide_to_the_next_provider_which_says_so() -> None:
    """OpenRouter out of credits: Gemini draws, the result names it, OpenRouter rests."""
    app = create_fake_upstream(CONFIG)
    wall = Wall()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        providers = chain(client, wall)
        app.state.fake.force(Fault.NO_CREDITS)
        first = await providers.generate(ask())
        second = await providers.generate(ask())
        wall.now += 601
        third = await providers.generate(ask())
    endpoints = [r["endpoint"] for r in app.state.fake.stats.snapshot()["requests"]]
    assert endpoints == ["openrouter", "gemini", "gemini", "openrouter"]
    assert any("fallback provider gemini" in w and "no_credits" in w for w in first.warnings)
    assert any("fallback provider gemini" in w for w in second.warnings)
    assert not any("fallback" in w for w in third.warnings)
    assert providers.name == "openrouter"


async def test_a_refusal_moves_the_slide_to_the_next_provider() -> None:
    """A content_filter refusal from the first provider: the second one draws it."""
    app = create_fake_upstream(CONFIG)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        providers = chain(client, Wall())
        app.state.fake.force(Fault.REFUSED)
        result = await providers.generate(ask())
    assert any("refused" in w for w in result.warnings)


async def test_every_member_out_of_quota_is_a_quota_with_the_earliest_reset() -> None:
    """Both providers spent: the chain answers QuotaExhausted, so the gate parks."""
    app = create_fake_upstream(CONFIG)
    wall = Wall()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        providers = chain(client, wall)
        app.state.fake.force(Fault.NO_CREDITS, Fault.NO_CREDITS)
        with pytest.raises(QuotaExhausted) as caught:
            await providers.generate(ask())
    assert caught.value.reset_at == pytest.approx(wall.now + 600.0)
    assert caught.value.retry_after == pytest.approx(600.0)


async def test_other_failures_are_the_attempts_answer_not_a_fallback() -> None:
    """A 500 from the primary is retried by the scheduler on the chain, not moved on."""
    app = create_fake_upstream(CONFIG)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        providers = chain(client, Wall())
        app.state.fake.force(Fault.ERROR_500)
        with pytest.raises(TransientProviderError):
            await providers.generate(ask())
        app.state.fake.force(Fault.REFUSED, Fault.REFUSED)
        with pytest.raises(Refused):
            await providers.generate(ask())


async def test_the_chain_is_built_from_the_settings() -> None:
    """IMAGE_PROVIDER_FALLBACK=gemini,local after OpenRouter gives a three-member chain."""
    settings = load_settings(
        image_provider="openrouter",
        llm_api_key="sk-or-0123456789",
        gemini_api_key="g-0123456789",
        image_provider_fallback="gemini,local",
    )
    async with httpx.AsyncClient() as client:
        provider = build_provider(settings, client)
        assert isinstance(provider, FallbackProvider)
        assert [m.name for m in provider.members] == ["openrouter", "gemini", "local"]
    assert settings.image_provider_fallback == [ProviderName.GEMINI, ProviderName.LOCAL]


def test_a_fallback_without_its_key_stops_at_start() -> None:
    """A fallback provider with no key is a configuration error naming the key."""
    with pytest.raises(ConfigError, match="GEMINI_API_KEY"):
        load_settings(llm_api_key="sk-or-0123456789", image_provider_fallback="gemini")
