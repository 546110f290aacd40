"""Choose and build the image provider from the settings, and the one shared HTTP client."""

from __future__ import annotations

import httpx

from slidebatch.config import ProviderName, Settings
from slidebatch.errors import ConfigError
from slidebatch.observability.pipeline_log import EventLog
from slidebatch.providers.base import ImageProvider
from slidebatch.providers.fallback import FallbackProvider
from slidebatch.providers.gemini import GeminiProvider
from slidebatch.providers.openai_images import OpenAIImagesProvider
from slidebatch.providers.openrouter import OpenRouterProvider
from slidebatch.providers.outbound import OutboundPolicy
from slidebatch.providers.pool_backend import install_on_client
from slidebatch.providers.remote import RemoteProvider

# Image downloads (OpenRouter http(s) URLs) share the pool with the upstream requests.
_DOWNLOAD_HEADROOM = 8
_CONNECT_TIMEOUT_S = 10.0
# An idle connection is dropped after this, before a server with the common 5 s keep-alive
# (uvicorn, Node.js: relays and proxies) closes it. At the same 5 s (httpx's default) the
# two raced: a busy server's timer closed a connection a request had just been sent on,
# which failed with a ReadError after the gate had counted its start (a slot lost for a
# window, and a retry).
KEEPALIVE_EXPIRY_S = 4.0


def make_http_client(settings: Settings) -> httpx.AsyncClient:
    """The shared upstream client: a pool that fits the in-flight cap, timeouts from settings."""
    in_flight = settings.upstream_max_in_flight
    timeout = settings.llm_timeout_seconds
    client = httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=min(timeout, _CONNECT_TIMEOUT_S)),
        limits=httpx.Limits(
            max_connections=in_flight + _DOWNLOAD_HEADROOM,
            max_keepalive_connections=in_flight + _DOWNLOAD_HEADROOM,
            keepalive_expiry=KEEPALIVE_EXPIRY_S,
        ),
        # Redirects are followed only for image downloads, explicitly, never with the key.
        follow_redirects=False,
    )
    install_on_client(client)  # the pool's idle check off the event loop's hot path
    return client


def build_provider(
    settings: Settings, client: httpx.AsyncClient, *, log: EventLog | None = None
) -> ImageProvider:
    """The provider ``settings.provider`` names, followed by ``IMAGE_PROVIDER_FALLBACK``'s.

    ``log`` reaches the local renderer (its one ``render_font_missing`` event).
    """
    chain = [
        settings.provider,
        *(p for p in settings.image_provider_fallback if p is not settings.provider),
    ]
    members = [build_one(settings, client, name, log=log) for name in dict.fromkeys(chain)]
    if len(members) == 1:
        return members[0]
    return FallbackProvider(members, recheck=settings.upstream_no_credit_recheck_seconds)


def build_one(
    settings: Settings,
    client: httpx.AsyncClient,
    chosen: ProviderName,
    *,
    log: EventLog | None = None,
) -> ImageProvider:
    """One provider by name (``auto`` already resolved by the settings)."""
    if chosen is ProviderName.LOCAL:
        # Imported here so the remote providers work before, and without, the local renderer.
        from slidebatch.providers.local import LocalRenderer

        return LocalRenderer(
            long_side=settings.local_render_long_side,
            delay_seconds=settings.local_render_delay_seconds,
            log=log,
        )
    table: dict[ProviderName, tuple[type[RemoteProvider], object, str, str]] = {
        ProviderName.OPENROUTER: (
            OpenRouterProvider,
            settings.llm_api_key,
            settings.llm_api_base,
            settings.llm_image_model,
        ),
        ProviderName.GEMINI: (
            GeminiProvider,
            settings.gemini_api_key,
            settings.gemini_api_base,
            settings.gemini_image_model,
        ),
        ProviderName.OPENAI: (
            OpenAIImagesProvider,
            settings.openai_api_key,
            settings.openai_api_base,
            settings.openai_image_model,
        ),
    }
    cls, key, base_url, model = table[chosen]
    secret = key.get_secret_value() if hasattr(key, "get_secret_value") else None
    if not secret:
        raise ConfigError(f"provider {chosen} has no API key configured")
    return cls(
        client,
        api_key=secret,
        base_url=base_url,
        model=model,
        image_size=settings.llm_image_size,
        timeout=settings.llm_timeout_seconds,
        aspect_mismatch=settings.llm_aspect_mismatch,
        download_max_bytes=settings.image_download_max_bytes,
        max_pixels=settings.image_max_pixels,
        max_body_bytes=settings.upstream_max_body_bytes,
        download_policy=OutboundPolicy.for_upstream(
            base_url, settings.image_download_allowed_hosts
        ),
    )
