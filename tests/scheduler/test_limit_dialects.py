"""The whole stack against every rate-limit dialect the fake speaks, on the fake clock.

Real providers over httpx to the fake upstream in-process, a gate and the dispatcher, all on
one ``FakeClock``: whatever the upstream says about its limit (each provider's own headers,
any reset format, garbage, negative figures, a reset already past, or nothing because a relay
stripped it), every slide ends done.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from scheduler_helpers import RecordingListener, make_jobs, make_policy, running

from slidebatch.providers.gemini import GeminiProvider
from slidebatch.providers.openai_images import OpenAIImagesProvider
from slidebatch.providers.openrouter import OpenRouterProvider
from slidebatch.providers.remote import RemoteProvider
from slidebatch.scheduler.gate import Gate, GateConfig
from slidebatch.testing.clock import FakeClock
from slidebatch.testing.fake_upstream import FakeUpstreamConfig, create_fake_upstream

SLIDES = 12
LIMIT = 4
PROVIDERS: dict[str, tuple[type[RemoteProvider], str, str]] = {
    "openrouter": (OpenRouterProvider, "/api/v1", "google/gemini-3-pro-image-preview"),
    "gemini": (GeminiProvider, "/v1beta", "gemini-3-pro-image-preview"),
    "openai": (OpenAIImagesProvider, "/v1", "gpt-image-1"),
}
MODES: dict[str, tuple[str, dict[str, Any]]] = {
    "openrouter-epoch-ms": ("openrouter", {}),
    "openrouter-harsh": (
        "openrouter",
        {"limit_headers": "on_429", "count_rejected": True, "retry_after": False},
    ),
    "openai-duration": ("openai", {}),
    "gemini-retry-delay": ("gemini", {}),
    "seconds": ("openrouter", {"reset_style": "seconds"}),
    "epoch-s": ("openrouter", {"reset_style": "epoch_s"}),
    "http-date": ("openrouter", {"reset_style": "http_date"}),
    "garbage": ("openrouter", {"malformed_limit_headers": "garbage"}),
    "negative": ("openrouter", {"malformed_limit_headers": "negative"}),
    "past-reset": ("openrouter", {"malformed_limit_headers": "past_reset"}),
    "openai-garbage": ("openai", {"malformed_limit_headers": "garbage"}),
    "gemini-garbage": ("gemini", {"malformed_limit_headers": "garbage"}),
    "stripped": ("openrouter", {"strip_limit_headers": True}),
    "nothing-said": ("openai", {"limit_headers": "never", "retry_after": False}),
}


async def run_deck(
    shape: str, overrides: dict[str, Any], gate_config: GateConfig
) -> tuple[int, int]:
    """One deck through the stack; returns (slides done, 429s the upstream answered)."""
    # Providers inspect images in a thread: the clock must not jump past one at work.
    clock = FakeClock(autojump_threshold=0.002)
    config = FakeUpstreamConfig(
        rpm=LIMIT, window_seconds=60.0, latency_median=8.0, latency_p95=15.0, **overrides
    )
    app = create_fake_upstream(config, clock=clock)
    cls, prefix, model = PROVIDERS[shape]
    listener = RecordingListener(clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        provider = cls(client, api_key="k-test", base_url=f"http://fake{prefix}", model=model)
        gate = Gate(gate_config, clock=clock)
        policy = make_policy(max_attempts=4, max_requeues=30)
        async with running(provider, gate, listener, clock=clock, policy=policy) as dispatcher:
            dispatcher.add_jobs("b", make_jobs("b", SLIDES), cap=None)
            await dispatcher.drain()
    assert listener.of("failed") == []
    return len(listener.of("ok")), app.state.fake.stats.snapshot()["totals"]["rate_limited"]


@pytest.mark.parametrize("mode", list(MODES))
async def test_every_slide_ends_done_with_the_limit_learned(mode: str) -> None:
    """Nothing configured: whatever the upstream's headers say, all slides end done."""
    shape, overrides = MODES[mode]
    done, _ = await run_deck(shape, overrides, GateConfig(rate=None, window_configured=False))
    assert done == SLIDES


@pytest.mark.parametrize("mode", list(MODES))
async def test_every_slide_ends_done_with_the_limit_configured(mode: str) -> None:
    """The true limit configured: all slides end done and hostile headers cause no 429 storm."""
    shape, overrides = MODES[mode]
    done, refused = await run_deck(shape, overrides, GateConfig(rate=LIMIT, window=60.0))
    assert done == SLIDES
    assert refused <= SLIDES // 2
