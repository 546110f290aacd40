"""The fake upstream's rate-limit dialects: provider headers, reset formats, hostile modes."""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from slidebatch.providers.ratelimit_headers import parse_duration, parse_reset
from slidebatch.testing.clock import FakeClock
from slidebatch.testing.fake_limits import go_duration
from slidebatch.testing.fake_upstream import (
    FakeUpstreamConfig,
    FakeUpstreamServer,
    Fault,
    create_fake_upstream,
)

WALL = 1_700_000_000.0
CHAT = "/api/v1/chat/completions"
IMAGES = "/v1/images/generations"
GEMINI = "/v1beta/models/gemini-3-pro-image-preview:generateContent"
BODIES: dict[str, dict[str, Any]] = {
    CHAT: {
        "model": "m",
        "messages": [{"role": "user", "content": "slide"}],
        "modalities": ["image", "text"],
    },
    IMAGES: {"model": "gpt-image-1", "prompt": "slide", "size": "1024x1024"},
    GEMINI: {"contents": [{"parts": [{"text": "slide"}]}]},
}
LIMIT_NAMES = ("x-ratelimit-", "retry-after")


def limited(**values: Any) -> FakeUpstreamConfig:
    """One request per 60 s window, no latency."""
    return FakeUpstreamConfig(rpm=1, latency_median=0.0, latency_p95=0.0, **values)


async def two_answers(config: FakeUpstreamConfig, path: str) -> tuple[httpx.Response, ...]:
    """The admitted answer, then (10 s later) the refused one."""
    clock = FakeClock(autojump=False)
    app = create_fake_upstream(config, clock=clock, wall=lambda: WALL + clock.now())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fake") as client:
        first = await client.post(path, json=BODIES[path])
        clock.advance(10)
        second = await client.post(path, json=BODIES[path])
    assert (first.status_code, second.status_code) == (200, 429)
    return first, second


def rate_headers(answer: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in answer.headers.items() if k.lower().startswith(LIMIT_NAMES)}


def test_go_durations_read_as_openai_writes_them() -> None:
    """Durations come out as Go prints them, and our parser reads them back."""
    cases = {0.012: "12ms", 1.5: "1.5s", 360.0: "6m0s", 90.25: "1m30.25s", 3725.0: "1h2m5s"}
    for seconds, text in cases.items():
        assert go_duration(seconds) == text
        assert parse_duration(text) == pytest.approx(seconds)


async def test_openai_shape_speaks_openai_rate_limit_headers() -> None:
    """OpenAI: x-ratelimit-*-requests with a duration reset (50 s left: '50s'), no X-RateLimit-*."""
    ok, refused = await two_answers(limited(), IMAGES)
    assert ok.headers["x-ratelimit-limit-requests"] == "1"
    assert ok.headers["x-ratelimit-remaining-requests"] == "0"
    assert ok.headers["x-ratelimit-reset-requests"] == "1m0s"
    assert refused.headers["x-ratelimit-reset-requests"] == "50s"
    assert "x-ratelimit-limit" not in refused.headers
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"


async def test_gemini_shape_sends_no_rate_limit_headers_only_retry_info() -> None:
    """Gemini: no X-RateLimit-*, no Retry-After; the 429 is RESOURCE_EXHAUSTED + retryDelay."""
    ok, refused = await two_answers(limited(), GEMINI)
    assert rate_headers(ok) == rate_headers(refused) == {}
    error = refused.json()["error"]
    assert error["status"] == "RESOURCE_EXHAUSTED"
    (info,) = [d for d in error["details"] if d["@type"].endswith("RetryInfo")]
    assert parse_duration(info["retryDelay"]) == pytest.approx(50.0)


async def test_openrouter_reset_is_epoch_ms_by_default_and_copied_into_the_body() -> None:
    """OpenRouter's default reset is epoch ms (SPEC 5), the 429 body carries the same figures."""
    ok, refused = await two_answers(limited(), CHAT)
    assert int(ok.headers["x-ratelimit-reset"]) == (WALL + 60) * 1000
    assert int(refused.headers["x-ratelimit-reset"]) == (WALL + 60) * 1000
    assert refused.json()["error"]["metadata"]["headers"]["X-RateLimit-Reset"] == str(
        int((WALL + 60) * 1000)
    )


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("seconds", "50.000"),
        ("epoch_s", str(int(WALL + 60))),
        ("epoch_ms", str(int((WALL + 60) * 1000))),
        ("duration", "50s"),
        ("http_date", "Tue, 14 Nov 2023 22:14:20 GMT"),
    ],
)
async def test_every_reset_style_names_the_same_moment(style: str, expected: str) -> None:
    """Each reset_style writes the reset 50 s ahead in its format; the parser reads it back."""
    _, refused = await two_answers(limited(reset_style=style), CHAT)
    reset = refused.headers["x-ratelimit-reset"]
    assert reset == expected
    assert parse_reset(reset, now=WALL + 10) == pytest.approx(50.0)


async def test_http_date_style_sends_retry_after_as_an_http_date() -> None:
    """reset_style='http_date' makes Retry-After an RFC 7231 date 50 s ahead."""
    _, refused = await two_answers(limited(reset_style="http_date"), CHAT)
    when = parsedate_to_datetime(refused.headers["retry-after"])
    assert when.timestamp() == WALL + 60


@pytest.mark.parametrize(
    ("mode", "reset", "retry_after", "limit"),
    [
        ("garbage", "soon", "later", "lots"),
        ("negative", "-50.000", "-50.000", "-1"),
        ("past_reset", str(int((WALL + 10 - 30) * 1000)), "Tue, 14 Nov 2023 22:13:00 GMT", "1"),
    ],
)
async def test_malformed_limit_headers(mode: str, reset: str, retry_after: str, limit: str) -> None:
    """Hostile modes: garbage, negative figures, a reset 30 s in the past."""
    _, refused = await two_answers(limited(malformed_limit_headers=mode), CHAT)
    assert refused.headers["x-ratelimit-reset"] == reset
    assert refused.headers["retry-after"] == retry_after
    assert refused.headers["x-ratelimit-limit"] == limit


async def test_malformed_mode_reaches_gemini_retry_delay() -> None:
    """Gemini's hostile counterpart is a retryDelay nobody can read."""
    _, refused = await two_answers(limited(malformed_limit_headers="garbage"), GEMINI)
    (info,) = refused.json()["error"]["details"]
    assert info["retryDelay"] == "soon"


@pytest.mark.parametrize("path", [CHAT, IMAGES])
async def test_limit_headers_never_sends_no_figures(path: str) -> None:
    """limit_headers='never': the upstream words no figures, only Retry-After on its 429."""
    ok, refused = await two_answers(limited(limit_headers="never"), path)
    assert rate_headers(ok) == {}
    assert set(rate_headers(refused)) == {"retry-after"}


def test_a_relay_that_strips_every_rate_limit_header_over_loopback() -> None:
    """strip_limit_headers: no rate-limit header and no Retry-After on 200 or 429; body kept."""
    config = limited(strip_limit_headers=True)
    with FakeUpstreamServer(config) as server, httpx.Client(base_url=server.base_url) as client:
        ok = client.post(CHAT, json=BODIES[CHAT])
        refused = client.post(CHAT, json=BODIES[CHAT])
    assert (ok.status_code, refused.status_code) == (200, 429)
    assert rate_headers(ok) == rate_headers(refused) == {}
    assert "X-RateLimit-Reset" in refused.json()["error"]["metadata"]["headers"]


async def test_a_stripped_503_has_no_retry_after() -> None:
    """The overload answer loses its Retry-After at the stripping relay too."""
    app = create_fake_upstream(FakeUpstreamConfig(rpm=None, strip_limit_headers=True))
    app.state.fake.force(Fault.ERROR_503)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fake") as client:
        answer = await client.post(CHAT, json=BODIES[CHAT])
    assert answer.status_code == 503
    assert rate_headers(answer) == {}


def test_string_fault_keys_are_coerced_and_junk_is_refused() -> None:
    """fault_rates={'503': 0.4} means Fault.ERROR_503; an unknown name is a clear error."""
    config = FakeUpstreamConfig(fault_rates={"503": 0.4})  # type: ignore[dict-item]
    assert config.fault_rates == {Fault.ERROR_503: 0.4}
    with pytest.raises(ValueError, match="unknown fault 'nope'"):
        FakeUpstreamConfig(fault_rates={"nope": 0.1})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="reset_style"):
        FakeUpstreamConfig(reset_style="fortnights")  # type: ignore[arg-type]


async def test_a_string_fault_key_really_injects() -> None:
    """A config built with '503' as its key answers 503, it is not silently ignored."""
    rates: dict[Any, float] = {"503": 1.0}
    config = FakeUpstreamConfig(rpm=None, latency_median=0.0, latency_p95=0.0, fault_rates=rates)
    transport = httpx.ASGITransport(app=create_fake_upstream(config))
    async with httpx.AsyncClient(transport=transport, base_url="http://fake") as client:
        answer = await client.post(CHAT, json=BODIES[CHAT])
    assert answer.status_code == 503


def test_fake_upstream_command_exposes_the_limit_knobs() -> None:
    """--help lists the rate-limit options; a bad --reset-style stops with one clear line."""
    from typer.testing import CliRunner

    from slidebatch.cli import app

    runner = CliRunner()
    shown = runner.invoke(app, ["fake-upstream", "--help"], env={"COLUMNS": "200"}).output
    for option in (
        "--count-rejected",
        "--limit-headers",
        "--reset-style",
        "--no-retry-after",
        "--malformed-limit-headers",
        "--strip-limit-headers",
    ):
        assert option in shown
    bad = runner.invoke(app, ["fake-upstream", "--reset-style", "fortnights", "--port", "0"])
    assert bad.exit_code == 2
    assert "reset_style must be one of" in bad.output
