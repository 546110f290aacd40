"""Choosing the provider from the settings, and the shared HTTP client."""

from __future__ import annotations

from typing import Any

import pytest

from slidebatch.config import Settings
from slidebatch.providers.gemini import GeminiProvider
from slidebatch.providers.local import LocalRenderer
from slidebatch.providers.openai_images import OpenAIImagesProvider
from slidebatch.providers.openrouter import OpenRouterProvider
from slidebatch.providers.registry import build_provider, make_http_client

KEY = "sk-registry-test-00998877"


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"image_provider": "local"}, LocalRenderer),
        ({"image_provider": "openrouter", "llm_api_key": KEY}, OpenRouterProvider),
        ({"image_provider": "gemini", "gemini_api_key": KEY}, GeminiProvider),
        ({"image_provider": "openai", "openai_api_key": KEY}, OpenAIImagesProvider),
        ({"image_provider": "auto", "gemini_api_key": KEY}, GeminiProvider),
    ],
)
async def test_build_provider_follows_image_provider(
    values: dict[str, Any], expected: type
) -> None:
    """IMAGE_PROVIDER (or auto, by the configured key) decides the provider class."""
    s = settings(**values)
    async with make_http_client(s) as client:
        provider = build_provider(s, client)
    assert isinstance(provider, expected)
    assert KEY not in repr(provider)
    assert KEY not in provider.credential_id


async def test_remote_providers_take_their_settings() -> None:
    """Base URL, model, size, timeout and the mismatch policy come from the settings."""
    s = settings(
        image_provider="openrouter",
        llm_api_key=KEY,
        llm_api_base="http://127.0.0.1:8900/api/v1",
        llm_image_model="some/model",
        llm_image_size="2K",
        llm_timeout_seconds=7,
        llm_aspect_mismatch="warn",
    )
    async with make_http_client(s) as client:
        provider = build_provider(s, client)
    assert isinstance(provider, OpenRouterProvider)
    assert (provider.base_url, provider.model, provider.image_size) == (
        "http://127.0.0.1:8900/api/v1",
        "some/model",
        "2K",
    )
    assert (provider.timeout, provider.aspect_mismatch) == (7, "warn")


async def test_the_client_pool_fits_the_in_flight_cap() -> None:
    """The pool holds at least UPSTREAM_MAX_IN_FLIGHT connections; timeouts follow settings."""
    s = settings(upstream_max_in_flight=40, llm_timeout_seconds=90)
    async with make_http_client(s) as client:
        pool = client._transport._pool  # type: ignore[attr-defined]
        assert pool._max_connections >= 40
        assert client.timeout.read == 90
        assert client.timeout.connect == 10


async def test_the_client_drops_idle_connections_before_a_5_s_server_closes_them() -> None:
    """Kept idle 4 s at most: a server that closes idle connections after 5 s (uvicorn, as
    the fake upstream and many relays are; Node.js) never closes one under a request just
    sent on it. At httpx's default of 5 s a busy server did, 4 requests in 100 reused at
    about 5 s idle: a ReadError each, and a start the gate counted for nothing."""
    async with make_http_client(settings()) as client:
        pool = client._transport._pool  # type: ignore[attr-defined]
        assert pool._keepalive_expiry == 4.0
