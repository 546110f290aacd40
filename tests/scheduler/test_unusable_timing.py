"""429s whose timing is unusable (a reset of zero, in the past, or junk) wait like 429s that
say nothing; none of them lets a refused request be sent again at once (issue 13 trial)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import httpx
import pytest
from scheduler_helpers import RecordingListener, make_jobs, running

from slidebatch.errors import RateLimited
from slidebatch.providers.faults import error_for_response
from slidebatch.providers.http import UpstreamResponse, parse_rate_limit
from slidebatch.scheduler.gate import Gate, GateConfig
from slidebatch.scheduler.gate_core import GateCore
from slidebatch.testing.clock import FakeClock
from slidebatch.testing.fake_limits import Malformed
from slidebatch.testing.fake_upstream import FakeUpstreamConfig, create_fake_upstream
from slidebatch.testing.scripted_provider import RefusalHeaders, ScriptedProvider

PROBE = 0.05
WALL = 1_700_000_000.0
CHAT = "/api/v1/chat/completions"
IMAGES = "/v1/images/generations"
BODIES: dict[str, dict[str, object]] = {
    CHAT: {"model": "m", "messages": [{"role": "user", "content": "slide"}]},
    IMAGES: {"model": "gpt-image-1", "prompt": "slide", "size": "1024x1024"},
}


def openai_past_reset(limit: int, wait: float) -> Mapping[str, str]:
    """OpenAI's figures, the reset already past (a clock behind, or a proxy's bug)."""
    return {
        "x-ratelimit-limit-requests": str(limit),
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "-5",
    }


def junk(limit: int, wait: float) -> Mapping[str, str]:
    """Rate-limit headers nobody can read."""
    return {"x-ratelimit-reset-requests": "abc", "x-ratelimit-limit-requests": "xyz"}


def nothing(limit: int, wait: float) -> Mapping[str, str]:
    return {}


async def refused_run(headers: RefusalHeaders, *, slides: int = 20) -> ScriptedProvider:
    """A batch against 5 per 60 s, every 429 carrying ``headers``; nothing configured."""
    clock = FakeClock()
    provider = ScriptedProvider(
        clock, default_latency=2.0, upstream_limit=5, refusal_headers=headers
    )
    gate = Gate(GateConfig(window=60.0, window_configured=False, probe_gap=PROBE), clock=clock)
    async with running(provider, gate, RecordingListener(clock), clock=clock) as dispatcher:
        dispatcher.add_jobs("b", make_jobs("b", slides), cap=None)
        await dispatcher.drain()
    return provider


def refused_gaps(provider: ScriptedProvider) -> list[float]:
    refused = [call.started for call in provider.calls if call.outcome == "rate_limited"]
    return [b - a for a, b in itertools.pairwise(refused)]


def test_a_429_that_says_go_now_pauses_like_one_that_says_nothing() -> None:
    """A wait of 0 (or less) on a 429 holds starts for the window's spacing, as no wait does."""
    for wait in (0.0, -5.0):
        told = GateCore(GateConfig(window=60.0, window_configured=False), now=0.0)
        silent = GateCore(GateConfig(window=60.0, window_configured=False), now=0.0)
        for core, error in (
            (told, RateLimited("429", retry_after=wait, reset_after=wait, limit=5, remaining=0)),
            (silent, RateLimited("429", limit=5, remaining=0)),
        ):
            seq = core.start(0.0)
            core.failed(0.1, seq, 0.0, error)
        assert told.next_start(0.1) == silent.next_start(0.1) == pytest.approx(0.1 + 60.0 / 5)


async def test_unreadable_rate_limit_headers_are_no_headers() -> None:
    """A 429 with junk X-RateLimit headers is the same answer as one with none."""
    with_junk = await refused_run(junk)
    bare = await refused_run(nothing)
    assert with_junk.calls == bare.calls


async def test_a_past_reset_does_not_resend_refused_requests_at_once() -> None:
    """OpenAI-dialect 429s whose only reset is "-5": no refusal follows another within the
    window's spacing, and the run costs what 429s with no reset cost."""
    past = await refused_run(openai_past_reset)
    assert min(refused_gaps(past), default=60.0) >= 60.0 / 5
    assert past.count("rate_limited") <= 2
    bare = await refused_run(nothing)
    assert past.calls[-1].ended == pytest.approx(bare.calls[-1].ended, rel=0.25)


@pytest.mark.parametrize(
    ("mode", "limit"), [("garbage", None), ("negative", None), ("past_reset", 1)]
)
@pytest.mark.parametrize("path", [CHAT, IMAGES])
async def test_the_fake_upstreams_broken_figures_hold_the_gate_as_none_do(
    mode: Malformed, limit: int | None, path: str
) -> None:
    """The fake upstream's hostile 429s (junk, negative, past), read by the providers' own
    parser, leave no timing (and a limit of -1 none, not 0): the gate holds exactly as for
    a 429 without them."""
    config = FakeUpstreamConfig(
        rpm=1, latency_median=0.0, latency_p95=0.0, malformed_limit_headers=mode
    )
    clock = FakeClock(autojump=False)
    app = create_fake_upstream(config, clock=clock, wall=lambda: WALL + clock.now())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://f") as c:
        await c.post(path, json=BODIES[path])
        clock.advance(10)
        answer = await c.post(path, json=BODIES[path])
    response = UpstreamResponse(
        status=answer.status_code,
        headers=answer.headers,
        body=answer.content,
        rate_limit=parse_rate_limit(answer.headers, now=WALL + 10),
        request_id=None,
    )
    error = error_for_response(response, secret=None)
    assert isinstance(error, RateLimited)
    assert (error.retry_after, error.reset_after, error.limit) == (None, None, limit)
    told = GateCore(GateConfig(window=60.0, window_configured=False), now=0.0)
    silent = GateCore(GateConfig(window=60.0, window_configured=False), now=0.0)
    for core, refusal in ((told, error), (silent, RateLimited("429", limit=limit))):
        for at in (0.0, 10.0):
            core.start(at)
        core.failed(10.1, 2, 10.0, refusal)
    assert told.next_start(10.1) == silent.next_start(10.1) > 10.1
