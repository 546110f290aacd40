"""The shared upstream helpers: Retry-After, X-RateLimit, the status table, scrubbing."""

from __future__ import annotations

import httpx
import pytest

from slidebatch.errors import (
    PermanentProviderError,
    ProviderError,
    RateLimited,
    TransientProviderError,
)
from slidebatch.providers.base import RateLimitInfo
from slidebatch.providers.faults import UpstreamFault, error_for, fault_from_body
from slidebatch.providers.http import credential_id, parse_rate_limit, quote_upstream, scrub
from slidebatch.providers.ratelimit_headers import parse_duration, parse_reset, parse_retry_after

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2", 2.0),
        ("1.25", 1.25),
        (" 0.5 ", 0.5),
        ("-3", None),  # no usable wait: the gate's own back-off applies
        ("0", None),
        ("Thu, 01 Jan 2026 00:00:30 GMT", 30.0),
        ("Wed, 31 Dec 2025 23:59:00 GMT", None),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_retry_after_reads_seconds_fractions_and_http_dates(
    value: str | None, expected: float | None
) -> None:
    """Retry-After is delta seconds (fractions allowed) or an HTTP date; junk is None."""
    assert parse_retry_after(value, now=NOW) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (str(int((NOW + 12.5) * 1000)), 12.5),  # epoch milliseconds (OpenRouter)
        (str(int(NOW + 40)), 40.0),  # epoch seconds
        ("7.5", 7.5),  # seconds from now
        ("3s", 3.0),
        (str(int((NOW - 5) * 1000)), None),  # already past: no usable timing
        ("x", None),
        (None, None),
    ],
)
def test_reset_reads_epoch_ms_epoch_seconds_or_a_duration(
    value: str | None, expected: float | None
) -> None:
    """X-RateLimit-Reset's unit is told by its magnitude; the result is seconds from now."""
    result = parse_reset(value, now=NOW)
    assert result == (pytest.approx(expected, abs=1e-3) if expected is not None else None)


def test_rate_limit_headers_become_rate_limit_info() -> None:
    """All three X-RateLimit headers are read, case-insensitively; bad numbers are None."""
    headers = httpx.Headers(
        {"x-ratelimit-limit": "20", "X-RateLimit-Remaining": "3", "X-RateLimit-Reset": "9.5"}
    )
    assert parse_rate_limit(headers, now=NOW) == RateLimitInfo(20, 3, 9.5)
    assert parse_rate_limit(httpx.Headers({"x-ratelimit-limit": "lots"})) == RateLimitInfo()


def test_protobuf_durations_parse() -> None:
    """Gemini's retryDelay "12.5s" is 12.5 seconds; other shapes are None."""
    assert parse_duration("12.5s") == 12.5
    assert parse_duration("12") is None
    assert parse_duration(12) is None


STATUS_TABLE: list[tuple[int, type[ProviderError], bool]] = [
    (400, PermanentProviderError, False),
    (401, PermanentProviderError, False),
    (402, PermanentProviderError, False),
    (403, PermanentProviderError, False),
    (404, PermanentProviderError, False),
    (408, TransientProviderError, True),
    (422, PermanentProviderError, False),
    (429, RateLimited, False),
    (500, TransientProviderError, False),
    (502, TransientProviderError, False),
    (503, TransientProviderError, True),
    (504, TransientProviderError, False),
    (529, TransientProviderError, True),
]


@pytest.mark.parametrize(("status", "error_class", "overload"), STATUS_TABLE)
def test_status_table(status: int, error_class: type[ProviderError], overload: bool) -> None:
    """Each HTTP status maps to one error class; 503-like ones also say overload."""
    error = error_for(UpstreamFault(status=status, message="upstream words", retry_after=3.0))
    assert type(error) is error_class
    assert error.status == status
    assert "upstream words" in str(error)
    assert getattr(error, "overload", False) is overload
    if status in (401, 403):
        assert str(error).startswith(f"the upstream rejected the API key (HTTP {status}): ")


def test_rate_limited_falls_back_to_the_reset_when_no_retry_after() -> None:
    """A 429 without Retry-After but with remaining=0 waits until the window resets."""
    error = error_for(
        UpstreamFault(status=429, message="slow down"),
        rate_limit=RateLimitInfo(limit=20, remaining=0, reset_after=4.0),
    )
    assert isinstance(error, RateLimited)
    assert (error.retry_after, error.limit, error.remaining, error.reset_after) == (4.0, 20, 0, 4.0)


def test_gemini_resource_exhausted_reads_retry_delay() -> None:
    """RESOURCE_EXHAUSTED with RetryInfo.retryDelay is RateLimited(retry_after=12.5)."""
    body = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "message": "Resource has been exhausted",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12.5s"}
            ],
        }
    }
    error = error_for(fault_from_body(429, body, httpx.Headers()))
    assert isinstance(error, RateLimited)
    assert error.retry_after == 12.5


def test_an_error_inside_a_200_takes_its_code_as_the_status() -> None:
    """OpenRouter's ``{error:{code:502}}`` in an HTTP 200 is a transient 502."""
    body = {"error": {"code": 502, "message": "Provider returned error", "metadata": {"raw": "x"}}}
    error = error_for(fault_from_body(200, body, httpx.Headers()))
    assert isinstance(error, TransientProviderError)
    assert error.status == 502


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"code": 403, "message": "input was flagged", "metadata": {"reasons": ["x"]}}},
        {"error": {"message": "rejected by our safety system", "code": "content_policy_violation"}},
    ],
)
def test_content_policy_refusals_are_permanent_and_named(body: dict[str, object]) -> None:
    """Moderation (OpenRouter 403) and policy violations (OpenAI 400) say "content policy"."""
    status = 403 if "metadata" in body["error"] else 400  # type: ignore[operator]
    error = error_for(fault_from_body(status, body, httpx.Headers()))
    assert isinstance(error, PermanentProviderError)
    assert "content policy" in str(error)


def test_gemini_api_key_invalid_reads_as_a_rejected_key() -> None:
    """Gemini answers a bad key with HTTP 400 API_KEY_INVALID: still "rejected the API key"."""
    body = {"error": {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT"}}
    assert "rejected the API key" in str(error_for(fault_from_body(400, body, httpx.Headers())))


def test_scrub_removes_the_key_and_long_pieces_of_it() -> None:
    """The whole key and any 8+ character piece of it are masked; other text stays."""
    key = "sk-proj-ABCDEFGHIJKLMNOP1234"
    text = f"Incorrect API key provided: {key}. Also 'sk-proj-ABCDEFGH' and ok-words."
    cleaned = scrub(text, key)
    assert key not in cleaned
    assert "sk-proj-ABCDEFGH" not in cleaned
    assert "Incorrect API key provided" in cleaned
    assert "ok-words" in cleaned
    assert scrub("nothing here", None) == "nothing here"


def test_quoted_upstream_text_is_bounded_and_one_line() -> None:
    """A long multi-line upstream page becomes one bounded line."""
    quoted = quote_upstream("<html>\n" + "x" * 5000, None)
    assert "\n" not in quoted
    assert len(quoted) <= 500


def test_credential_id_names_the_account_without_the_key() -> None:
    """Same base and key give the same id; another key another id; the key never shows."""
    key = "sk-secret-123456789"
    first = credential_id("openrouter", "https://openrouter.ai/api/v1/", key)
    assert first == credential_id("openrouter", "https://openrouter.ai/api/v1", key)
    assert first != credential_id("openrouter", "https://openrouter.ai/api/v1", key + "x")
    assert key not in first
    assert first.startswith("openrouter:")
