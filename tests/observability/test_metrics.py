from __future__ import annotations

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from slidebatch.observability.metrics import Metrics


def _samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, _ = metrics.render()
    found = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_every_documented_metric_is_exposed() -> None:
    """The /metrics body names each metric of the issue, with the slidebatch_ prefix."""
    metrics = Metrics()
    metrics.slide_finished("done", "local")
    metrics.upstream_request(200, 12.0)
    metrics.retry("rate_limited")
    metrics.set_batch_states({"running": 1})
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    text = body.decode()
    for name in (
        "slidebatch_batches{",
        "slidebatch_slides_total{",
        "slidebatch_upstream_requests_total{",
        'slidebatch_upstream_latency_seconds_bucket{le="180.0"}',
        "slidebatch_gate_effective_rate ",
        "slidebatch_gate_in_flight ",
        "slidebatch_gate_blocked ",
        "slidebatch_gate_parked ",
        "slidebatch_queue_depth ",
        "slidebatch_queue_oldest_age_seconds ",
        "slidebatch_retries_total{",
        "slidebatch_cost_usd_total ",
    ):
        assert name in text, name


def test_counters_count_by_their_labels() -> None:
    """Slides by outcome and provider, requests by status, retries by reason, cost summed."""
    metrics = Metrics()
    metrics.slide_finished("done", "openrouter", cost=0.12)
    metrics.slide_finished("done", "openrouter", cost=0.13)
    metrics.slide_finished("error", "openrouter")
    metrics.upstream_request(429)
    metrics.upstream_request("timeout")
    metrics.retry("transient")
    samples = _samples(metrics)
    done = ("slidebatch_slides_total", (("outcome", "done"), ("provider", "openrouter")))
    assert samples[done] == 2
    assert samples[("slidebatch_upstream_requests_total", (("status", "429"),))] == 1
    assert samples[("slidebatch_upstream_requests_total", (("status", "timeout"),))] == 1
    assert samples[("slidebatch_retries_total", (("reason", "transient"),))] == 1
    assert abs(samples[("slidebatch_cost_usd_total", ())] - 0.25) < 1e-9


def test_batch_states_missing_from_a_count_read_zero() -> None:
    """A state that had batches and now has none drops to 0 instead of keeping its old value."""
    metrics = Metrics()
    metrics.set_batch_states({"running": 3, "queued": 2})
    metrics.set_batch_states({"running": 1})
    samples = _samples(metrics)
    assert samples[("slidebatch_batches", (("state", "running"),))] == 1
    assert samples[("slidebatch_batches", (("state", "queued"),))] == 0


def test_samplers_refresh_gauges_at_scrape_time() -> None:
    """A sampler runs on render; a failing one does not break the scrape."""
    metrics = Metrics()

    def broken(_: Metrics) -> None:
        raise RuntimeError("gate gone")

    metrics.add_sampler(broken)
    metrics.add_sampler(
        lambda m: m.set_gate(effective_rate=18.5, in_flight=4, queue_depth=7, oldest_age_seconds=3)
    )
    samples = _samples(metrics)
    assert samples[("slidebatch_gate_effective_rate", ())] == 18.5
    assert samples[("slidebatch_queue_depth", ())] == 7


def test_each_instance_has_its_own_registry() -> None:
    """Two apps in one process keep separate counts, and nothing lands in the global registry."""
    first, second = Metrics(), Metrics()
    first.retry("transient")
    assert ("slidebatch_retries_total", (("reason", "transient"),)) not in _samples(second)
    assert REGISTRY.get_sample_value("slidebatch_retries_total", {"reason": "transient"}) is None
