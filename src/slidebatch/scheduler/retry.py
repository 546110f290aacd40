"""Whether and when a failed attempt is tried again.

Two budgets: *paid* attempts (every request the upstream answered with work or a fault:
5xx, timeouts, malformed answers) bounded by ``max_attempts``, and 429 *requeues*, which the
upstream does not charge for, bounded separately by ``max_requeues``. A spent quota
(``QuotaExhausted``) charges neither: the job waits for the reset. Permanent errors never
retry. The delay is full-jitter exponential backoff, ``uniform(0, min(cap,
base * 2**n))`` (AWS's "full jitter": spreads retries so they do not arrive together),
never shorter than the upstream's ``Retry-After`` up to ``max_pause``
(``UPSTREAM_MAX_PAUSE_SECONDS``: an upstream asking for days does not park a slide for days;
the gate reports the credential blocked instead).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from slidebatch.errors import ProviderError, QuotaExhausted, RateLimited
from slidebatch.scheduler.job import Job


def is_paid(error: ProviderError) -> bool:
    """Whether a failed attempt counts as paid: all but a 429, for which the upstream did no
    work and charges nothing (it costs a requeue instead)."""
    return not isinstance(error, RateLimited)


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """What to do after one failed attempt."""

    retry: bool
    delay: float  # seconds to wait before the job may be dispatched again
    paid: bool  # whether the failed attempt counts against the paid-attempt budget
    reason: str


@dataclass(frozen=True, slots=True)
class Retry:
    """After one failed attempt: ``spent`` is the job with that attempt charged to its budget;
    ``next`` is the same job when it runs again after ``delay`` seconds, None when it will not.
    """

    spent: Job
    next: Job | None
    delay: float
    reason: str


class RetryPolicy:
    """Backoff and budgets for one slide's attempts."""

    def __init__(
        self,
        max_attempts: int,
        max_requeues: int,
        base: float,
        cap: float,
        rng: random.Random,
        *,
        max_pause: float = math.inf,
        quota_recheck: float = 3600.0,
    ) -> None:
        if max_attempts < 1 or max_requeues < 0:
            raise ValueError("max_attempts must be >= 1 and max_requeues >= 0")
        self.max_attempts = max_attempts
        self.max_requeues = max_requeues
        self.base = base
        self.cap = cap
        self._rng = rng
        self.max_pause = max_pause
        self.quota_recheck = quota_recheck

    def decide(self, error: ProviderError, attempts: int, requeues: int) -> RetryDecision:
        """Decide after a failure.

        ``attempts`` and ``requeues`` count what was spent *including* the attempt that just
        failed (so a 429 arrives with ``requeues`` already raised by one).
        """
        if not is_paid(error):
            if requeues > self.max_requeues:
                return RetryDecision(
                    False, 0.0, False, f"rate limited {requeues} times (limit {self.max_requeues})"
                )
            return RetryDecision(True, self._delay(requeues, error), False, "rate limited")
        if not error.retryable:
            return RetryDecision(False, 0.0, True, f"permanent error ({error.kind})")
        if attempts >= self.max_attempts:
            return RetryDecision(
                False, 0.0, True, f"gave up after {attempts} paid attempts ({error.kind})"
            )
        return RetryDecision(True, self._delay(attempts, error), True, error.kind)

    def after(self, job: Job, error: ProviderError) -> Retry:
        """Charge the failed attempt (a 429 to the requeues, anything else as paid) and decide.

        A spent quota charges nothing: the job waits, budgets intact, until the quota resets
        (or ``quota_recheck`` seconds when no reset is known: no credits).
        """
        if isinstance(error, QuotaExhausted):
            wait = error.retry_after if error.retry_after is not None else self.quota_recheck
            return Retry(job, job, wait, f"quota spent ({error.kind})")
        if is_paid(error):
            spent = replace(job, attempts=job.attempts + 1)
        else:
            spent = replace(job, requeues=job.requeues + 1)
        decision = self.decide(error, spent.attempts, spent.requeues)
        return Retry(spent, spent if decision.retry else None, decision.delay, decision.reason)

    def _delay(self, failures: int, error: ProviderError) -> float:
        ceiling = min(self.cap, self.base * 2 ** max(0, failures - 1))
        delay = self._rng.uniform(0.0, ceiling)
        if error.retry_after is not None:
            delay = max(delay, min(error.retry_after, self.max_pause))
        return delay
