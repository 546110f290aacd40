"""The retry policy: full jitter, Retry-After floor, paid attempts and 429 requeues apart."""

from __future__ import annotations

import random

from slidebatch.errors import PermanentProviderError, RateLimited, TransientProviderError
from slidebatch.scheduler.retry import RetryPolicy


def policy(**overrides: int) -> RetryPolicy:
    values = {"max_attempts": 3, "max_requeues": 2} | overrides
    return RetryPolicy(values["max_attempts"], values["max_requeues"], 2.0, 10.0, random.Random(1))


def test_permanent_errors_never_retry() -> None:
    """A permanent error fails the slide at its first attempt."""
    decision = policy().decide(PermanentProviderError("bad key"), 1, 0)
    assert not decision.retry
    assert decision.paid


def test_transient_errors_stop_at_the_paid_cap() -> None:
    """Paid attempts 1 and 2 retry; the 3rd of max 3 gives up."""
    error = TransientProviderError("502")
    assert policy().decide(error, 1, 0).retry
    assert policy().decide(error, 2, 0).retry
    final = policy().decide(error, 3, 0)
    assert not final.retry
    assert "3 paid attempts" in final.reason


def test_backoff_is_full_jitter_under_the_cap() -> None:
    """Delays lie in [0, min(cap, base*2**(n-1))] and are not all equal."""
    retry = policy(max_attempts=100)
    error = TransientProviderError("503")
    for n, ceiling in ((1, 2.0), (2, 4.0), (3, 8.0), (4, 10.0), (9, 10.0)):
        delays = [retry.decide(error, n, 0).delay for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8
        assert min(delays) < ceiling * 0.2


def test_retry_after_is_a_floor() -> None:
    """No delay is shorter than the upstream's Retry-After."""
    error = TransientProviderError("503", retry_after=7.5)
    assert all(policy().decide(error, 1, 0).delay >= 7.5 for _ in range(50))


def test_rate_limits_are_unpaid_and_bounded_apart() -> None:
    """429s do not spend paid attempts and stop after max_requeues requeues."""
    error = RateLimited("429", retry_after=1.0)
    first = policy().decide(error, 3, 1)  # paid budget spent, yet a 429 still requeues
    assert first.retry
    assert not first.paid
    assert first.delay >= 1.0
    assert policy().decide(error, 0, 2).retry
    assert not policy().decide(error, 0, 3).retry
