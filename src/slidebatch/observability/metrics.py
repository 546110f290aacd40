"""Prometheus metrics, on a registry of the app's own (never the process-global one).

One registry per ``Metrics`` keeps tests and several apps in one process apart. Label sets
stay small: batch state, slide outcome and provider, upstream status code, retry reason.
Gauges that describe "now" (gate, queue) are refreshed by samplers at scrape time, so the
engine does not have to push them on every change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

# Image models answer in 5-60 s typically, up to LLM_TIMEOUT_SECONDS (120 s by default).
LATENCY_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180)
# Event-loop lag: a healthy loop answers within a few ms; 20 ms is the service's goal.
LOOP_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
# An attempt's phases (``scheduler/phases.py``): a write of a few ms up to an upstream's minutes.
PHASE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
BATCH_STATES = ("queued", "running", "completed", "completed_with_errors", "failed", "cancelled")

Sampler = Callable[["Metrics"], None]


def _loop_lag_histogram(registry: CollectorRegistry) -> Histogram:
    return Histogram(
        "slidebatch_event_loop_lag_seconds",
        "How late the event loop wakes a sleeping task (sampled every 50 ms)",
        buckets=LOOP_LAG_BUCKETS,
        registry=registry,
    )


def _phase_histogram(registry: CollectorRegistry) -> Histogram:
    return Histogram(
        "slidebatch_attempt_phase_seconds",
        "Each attempt's phases: starting (slot held, request not sent), upstream, reporting",
        ["phase"],
        buckets=PHASE_BUCKETS,
        registry=registry,
    )


class Metrics:
    """Every slidebatch metric, and ``render()`` for the ``/metrics`` route."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.batches = Gauge(
            "slidebatch_batches",
            "Batches by state (stored, this server's view)",
            ["state"],
            registry=r,
        )
        self.slides_total = Counter(
            "slidebatch_slides",
            "Slides finished, by outcome and provider",
            ["outcome", "provider"],
            registry=r,
        )
        self.upstream_requests_total = Counter(
            "slidebatch_upstream_requests",
            "Upstream requests by HTTP status (or error kind)",
            ["status"],
            registry=r,
        )
        self.upstream_latency_seconds = Histogram(
            "slidebatch_upstream_latency_seconds",
            "Upstream request latency",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.gate_effective_rate = Gauge(
            "slidebatch_gate_effective_rate",
            "Requests per window the gate allows now (AIMD)",
            registry=r,
        )
        self.gate_in_flight = Gauge(
            "slidebatch_gate_in_flight", "Upstream requests in flight", registry=r
        )
        self.gate_blocked = Gauge(
            "slidebatch_gate_blocked",
            "1 while the upstream asked for a wait beyond UPSTREAM_MAX_PAUSE_SECONDS",
            registry=r,
        )
        self.gate_parked = Gauge(
            "slidebatch_gate_parked",
            "1 while the credential is parked (a quota that waiting cannot fix)",
            registry=r,
        )
        self.queue_depth = Gauge("slidebatch_queue_depth", "Slides waiting for a slot", registry=r)
        self.queue_oldest_age_seconds = Gauge(
            "slidebatch_queue_oldest_age_seconds",
            "Age of the oldest waiting slide or batch",
            registry=r,
        )
        self.retries_total = Counter(
            "slidebatch_retries", "Slide attempts retried, by reason", ["reason"], registry=r
        )
        self.cost_usd_total = Counter(
            "slidebatch_cost_usd", "Upstream cost reported by the provider, in USD", registry=r
        )
        self.event_loop_lag_seconds = _loop_lag_histogram(r)
        self.attempt_phase_seconds = _phase_histogram(r)
        self._samplers: list[Sampler] = []

    # --- one-line calls for the engine and the API ---

    def slide_finished(self, outcome: str, provider: str, *, cost: float | None = None) -> None:
        """A slide ended (``done``, ``error``, ``placeholder``, ``cancelled``)."""
        self.slides_total.labels(outcome=outcome, provider=provider).inc()
        if cost:
            self.cost_usd_total.inc(max(0.0, cost))

    def upstream_request(self, status: int | str, latency_seconds: float | None = None) -> None:
        """One upstream attempt: its HTTP status, or a kind such as ``timeout``."""
        self.upstream_requests_total.labels(status=str(status)).inc()
        if latency_seconds is not None and latency_seconds >= 0:
            self.upstream_latency_seconds.observe(latency_seconds)

    def loop_lag(self, seconds: float) -> None:
        """One sample of the event loop's lag."""
        self.event_loop_lag_seconds.observe(seconds)

    def attempt_phase(self, phase: str, seconds: float) -> None:
        """One attempt spent ``seconds`` in ``phase`` (``scheduler.phases.AttemptPhase``)."""
        self.attempt_phase_seconds.labels(phase=str(phase)).observe(max(0.0, seconds))

    def retry(self, reason: str) -> None:
        """An attempt will be retried (``rate_limited``, ``transient``, ``timeout``...)."""
        self.retries_total.labels(reason=reason).inc()

    def set_batch_states(self, counts: Mapping[Any, int]) -> None:
        """Batches per state; states missing from ``counts`` read 0."""
        given = {str(state): n for state, n in counts.items()}
        for state in (*BATCH_STATES, *given):
            self.batches.labels(state=state).set(given.get(state, 0))

    def set_gate(
        self,
        *,
        effective_rate: float | None,
        in_flight: int,
        queue_depth: int,
        oldest_age_seconds: float = 0.0,
        blocked: bool = False,
        parked: bool = False,
    ) -> None:
        """The gate and queue right now."""
        self.gate_effective_rate.set(effective_rate or 0.0)
        self.gate_blocked.set(1 if blocked else 0)
        self.gate_parked.set(1 if parked else 0)
        self.gate_in_flight.set(in_flight)
        self.queue_depth.set(queue_depth)
        self.queue_oldest_age_seconds.set(max(0.0, oldest_age_seconds))

    def add_sampler(self, sampler: Sampler) -> None:
        """Call ``sampler(self)`` before each scrape to refresh "now" gauges."""
        self._samplers.append(sampler)

    def render(self) -> tuple[bytes, str]:
        """The exposition body and its content type, for ``/metrics``."""
        for sampler in self._samplers:
            try:
                sampler(self)
            except Exception:  # a broken sampler must not take the whole scrape down
                continue
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def samplers(self) -> Iterable[Sampler]:
        return tuple(self._samplers)
