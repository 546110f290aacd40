"""Fleet figures on a process's ``/metrics``, each labelled with the ``worker`` it is about.

Every process of a fleet serves its own ``/metrics``; Prometheus scrapes each one. The
``worker`` label (``host:pid:suffix``, as in the ``fleet_workers`` table) tells the series
of one process from another's. ``FleetView``'s series (no label) are the fleet as the
database sees it, the same on every process, API processes without a worker included.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from slidebatch.observability.metrics import Metrics


class FleetMetrics:
    """A worker's leases, claims, fenced results and heartbeat, on ``metrics``'s registry."""

    def __init__(self, metrics: Metrics, worker: str) -> None:
        r = metrics.registry
        self.worker = worker
        self._claims = Counter(
            "slidebatch_fleet_claims", "Slides this worker claimed", ["worker"], registry=r
        ).labels(worker=worker)
        self._fenced = Counter(
            "slidebatch_fleet_fenced_results",
            "Results refused because the slide was claimed again (this worker was presumed dead)",
            ["worker"],
            registry=r,
        ).labels(worker=worker)
        self._reaped = Counter(
            "slidebatch_fleet_reaped_leases",
            "Expired leases this worker put back to pending",
            ["worker"],
            registry=r,
        ).labels(worker=worker)
        self._leases = Gauge(
            "slidebatch_fleet_leases", "Leases this worker holds now", ["worker"], registry=r
        ).labels(worker=worker)
        self._beat_age = Gauge(
            "slidebatch_fleet_heartbeat_age_seconds",
            "Seconds since this worker's last successful heartbeat",
            ["worker"],
            registry=r,
        ).labels(worker=worker)

    def claimed(self) -> None:
        self._claims.inc()

    def fenced(self) -> None:
        self._fenced.inc()

    def reaped(self, n: int) -> None:
        self._reaped.inc(n)

    def set_leases(self, held: int, beat_age: float) -> None:
        """The leases held and the heartbeat's age (seconds), refreshed at scrape time."""
        self._leases.set(held)
        self._beat_age.set(max(0.0, beat_age))


class FleetView:
    """The whole fleet's figures read from the database at scrape time (every process)."""

    def __init__(self, metrics: Metrics) -> None:
        r = metrics.registry
        self._workers = Gauge(
            "slidebatch_fleet_workers",
            "Workers whose heartbeat is younger than a lease (the fleet_workers table)",
            registry=r,
        )
        self._generating = Gauge(
            "slidebatch_fleet_slides_generating",
            "Slides claimed by a worker now, fleet-wide",
            registry=r,
        )

    def set(self, workers: int, generating: int) -> None:
        self._workers.set(workers)
        self._generating.set(generating)
