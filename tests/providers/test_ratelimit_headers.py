"""Rate-limit figures in every format upstreams send: epoch ms/s, durations, dates, body copies."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from slidebatch.errors import RateLimited
from slidebatch.providers.base import RateLimitInfo
from slidebatch.providers.faults import error_for_response
from slidebatch.providers.http import UpstreamResponse
from slidebatch.providers.ratelimit_headers import (
    merged,
    parse_duration,
    parse_reset,
    rate_limit_from_body,
    rate_limit_from_headers,
)

NOW = 1_750_000_000.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("37s", 37.0),
        ("12.5s", 12.5),
        ("6m0s", 360.0),
        ("12ms", 0.012),
        ("1h2m3.5s", 3723.5),
        ("250us", 0.00025),
        ("12", None),
        ("6 minutes", None),
        ("s", None),
        ("", None),
        (12, None),
    ],
)
def test_durations_with_units_parse(value: object, expected: float | None) -> None:
    """Go and protobuf durations are seconds; bare numbers and prose are not durations."""
    result = parse_duration(value)
    assert result == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (str(int((NOW + 42.25) * 1000)), 42.25),  # OpenRouter: epoch milliseconds
        (str(int(NOW + 40)), 40.0),  # epoch seconds
        ("6m0s", 360.0),  # OpenAI x-ratelimit-reset-requests
        ("12ms", 0.012),
        ("37s", 37.0),
        ("7.5", 7.5),  # plain seconds
        ("Sun, 15 Jun 2025 15:07:00 GMT", 20.0),  # HTTP date (NOW is 15:06:40 GMT)
        ("2025-06-15T15:07:10Z", 30.0),  # ISO 8601
        (str(int((NOW - 5) * 1000)), None),  # already past: no usable timing
        (str(int(NOW - 5)), None),
        ("-5", None),  # seen from an OpenAI-dialect relay: as unknown as "soon"
        ("0", None),
        ("0s", None),
        ("Sun, 15 Jun 2025 15:06:00 GMT", None),
        ("soon", None),
        ("inf", None),
    ],
)
def test_every_reset_format_is_seconds_from_now(value: str, expected: float | None) -> None:
    """X-RateLimit-Reset in any format providers use becomes seconds from now."""
    result = parse_reset(value, now=NOW)
    assert result == (pytest.approx(expected, abs=1e-3) if expected is not None else None)


def test_openai_request_headers_are_read() -> None:
    """OpenAI's x-ratelimit-*-requests figures are the limit, remaining and a duration reset."""
    headers = httpx.Headers(
        {
            "x-ratelimit-limit-requests": "60",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "1m30s",
        }
    )
    assert rate_limit_from_headers(headers, now=NOW) == RateLimitInfo(60, 0, 90.0)


def test_the_error_body_copy_of_the_headers_is_read() -> None:
    """OpenRouter's error.metadata.headers carries the same figures as the real headers."""
    reset = str(int((NOW + 12) * 1000))
    body = {
        "error": {
            "code": 429,
            "message": "Rate limit exceeded",
            "metadata": {
                "headers": {
                    "X-RateLimit-Limit": "20",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": reset,
                }
            },
        }
    }
    info = rate_limit_from_body(body, now=NOW)
    assert (info.limit, info.remaining) == (20, 0)
    assert info.reset_after == pytest.approx(12.0, abs=1e-3)
    assert rate_limit_from_body({"error": "no"}) == RateLimitInfo()


def test_merged_fills_only_the_missing_figures() -> None:
    """The headers' own figures win; the body's copy fills what they lack."""
    ours = RateLimitInfo(limit=20)
    assert merged(ours, RateLimitInfo(10, 0, 5.0)) == RateLimitInfo(20, 0, 5.0)


def test_a_429_without_headers_takes_its_figures_from_the_body() -> None:
    """A 429 whose headers were dropped still teaches the limit and the reset from the body."""
    reset = str(int((time.time() + 30) * 1000))
    figures = {"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
    body = {"error": {"code": 429, "message": "Rate limit", "metadata": {"headers": figures}}}
    response = UpstreamResponse(
        status=429,
        headers=httpx.Headers(),
        body=json.dumps(body).encode(),
        rate_limit=RateLimitInfo(),
        request_id=None,
    )
    error = error_for_response(response, secret=None)
    assert isinstance(error, RateLimited)
    assert (error.limit, error.remaining) == (20, 0)
    assert error.reset_after == pytest.approx(30.0, abs=1.0)
    assert error.retry_after == error.reset_after
