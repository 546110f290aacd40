"""The contract between the dispatcher and whatever decides when a request may start.

``Gate`` (one process, in memory) is the implementation today. A gate shared by several
worker processes (PostgreSQL or Redis backed) would implement the same two Protocols, and
the dispatcher would not change.
"""

from __future__ import annotations

from typing import Protocol

from slidebatch.errors import ProviderError
from slidebatch.providers.base import RateLimitInfo
from slidebatch.scheduler.gate import GateStats


class GatePermit(Protocol):
    """The right to send one request; its outcome is reported exactly once."""

    def success(self, rate_limit: RateLimitInfo | None = None) -> None:
        """The upstream answered with an image (its X-RateLimit figures, if any)."""

    def failure(self, error: ProviderError) -> None:
        """The attempt failed; 429s and overloads teach the gate."""

    def release(self) -> None:
        """The attempt was cancelled mid-request: free the slot, learn nothing."""

    def abandon(self) -> None:
        """The request was never sent: un-count its start."""


class RateGate(Protocol):
    """Decides when the next request to one upstream credential may start."""

    async def acquire(self) -> GatePermit:
        """Wait until one more request may start, and count it."""
        ...

    def stats(self) -> GateStats:
        """The gate's figures for logs, advice and metrics."""
        ...
