"""config/validate and config/optimal advice, from settings and the gate's figures."""

from __future__ import annotations

from slidebatch.config import load_settings
from slidebatch.core.estimate import UpstreamFigures
from slidebatch.engine.advisor import ConfigAdvisor

MEASURED = UpstreamFigures(rate=20, window=60.0, latency=9.0, latency_p95=20.0, measured=True)


def test_optimal_recommends_the_fewest_workers_that_reach_the_rate_bound() -> None:
    """50 slides at 20/min, 9 s each: 10 in flight already reach the three-window bound."""
    advisor = ConfigAdvisor(load_settings(), MEASURED)
    answer = advisor.optimal(50)
    assert answer.recommended_workers == 10
    assert answer.estimated_time_seconds == 129.0
    assert answer.estimated_time_formatted == "2m 9s"
    assert answer.basis == "measured"
    assert answer.max_possible_workers == 20


def test_optimal_without_measurements_uses_configured_limits() -> None:
    """Before any answer was measured, the basis is 'configured' and notes say so."""
    assumed = UpstreamFigures(rate=20, window=60.0, latency=10.0)
    answer = ConfigAdvisor(load_settings(), assumed).optimal(3)
    assert answer.basis == "configured"
    assert answer.recommended_workers == 3  # one window: all three at once
    assert answer.estimated_time_seconds == 10.0
    assert any("assumed latency" in note for note in answer.performance_notes)


def test_validate_flags_a_free_model_configured_above_its_limit() -> None:
    """OpenRouter free models allow 20/min; UPSTREAM_RPM=60 is an issue, not just advice."""
    settings = load_settings(
        llm_api_key="sk-test-key-123456",
        llm_image_model="google/gemini-2.5-flash-image-preview:free",
        upstream_rpm=60,
    )
    answer = ConfigAdvisor(settings, MEASURED).validate()
    assert answer.valid is False
    assert any("UPSTREAM_RPM=60" in issue for issue in answer.issues)
    assert "sk-test-key" not in str(answer)


def test_validate_warns_when_the_timeout_is_near_the_measured_p95() -> None:
    """A timeout close to the measured p95 latency is an issue: slow answers get paid twice."""
    settings = load_settings(llm_timeout_seconds=25)
    answer = ConfigAdvisor(settings, MEASURED).validate()
    assert any("LLM_TIMEOUT_SECONDS" in issue for issue in answer.issues)
    assert ConfigAdvisor(load_settings(), MEASURED).validate().valid is True


def test_validate_and_optimal_agree_on_how_many_workers_are_useful() -> None:
    """20/min at 10 s: optimal recommends 20 for 20 slides, so validate never calls 20 too many."""
    figures = UpstreamFigures(rate=20, window=60.0, latency=10.0)
    advisor = ConfigAdvisor(load_settings(batch_max_workers=20), figures)
    assert advisor.optimal(20).recommended_workers == 20
    advice = advisor.validate().recommendations
    assert not [a for a in advice if a.startswith("BATCH_MAX_WORKERS=")]


def test_no_recommendation_exceeds_what_validate_calls_useful() -> None:
    """For any deck size, optimal stays within validate's useful workers and the caps."""
    cases = [
        (UpstreamFigures(rate=20, window=60.0, latency=10.0), 20, None),
        (UpstreamFigures(rate=5, window=60.0, latency=30.0), 20, None),
        (UpstreamFigures(rate=3, window=10.0, latency=1.0), 20, None),
        (UpstreamFigures(rate=None, window=60.0, latency=0.3), 20, 4),
    ]
    for figures, max_workers, in_flight in cases:
        settings = load_settings(batch_max_workers=max_workers, batch_max_slides=60)
        advisor = ConfigAdvisor(settings, figures, in_flight_cap=in_flight)
        useful = advisor.useful_workers()
        flagged = any(
            a.startswith("BATCH_MAX_WORKERS=") for a in advisor.validate().recommendations
        )
        assert flagged == (max_workers > useful), (figures, useful)
        for slides in (1, 2, 5, 19, 20, 21, 40, 60):
            answer = advisor.optimal(slides)
            assert answer.recommended_workers <= min(useful, answer.max_possible_workers)
            assert answer.max_possible_workers <= (in_flight or max_workers)


def test_optimal_honours_the_gates_in_flight_cap() -> None:
    """The local renderer's gate lets 4 run at once: optimal offers no more than 4."""
    local = UpstreamFigures(rate=None, window=60.0, latency=0.3)
    answer = ConfigAdvisor(load_settings(), local, in_flight_cap=4).optimal(50)
    assert answer.max_possible_workers == 4
    assert answer.recommended_workers <= 4


def test_validate_and_optimal_state_a_learned_limit_alike() -> None:
    """Once the gate learned 20 per 3.04379 s, both answers say 20 per 3.04 s, learned."""
    learned = UpstreamFigures(rate=20, window=3.04379, latency=9.0, measured=True, learned=True)
    settings = load_settings(llm_api_key="sk-test-key-123456")
    advisor = ConfigAdvisor(settings, learned)
    check = advisor.validate()
    current = check.current_config
    assert (current.effective_rate, current.effective_window_seconds) == (20, 3.04)
    assert current.rate_learned is True
    assert current.upstream_rate_window_seconds == 60.0  # the setting, shown as it is
    rpm_advice = [a for a in check.recommendations if a.startswith("UPSTREAM_RPM")]
    assert rpm_advice
    assert "learned the limit" in rpm_advice[0]
    assert "20 per 3.04 s" in rpm_advice[0]
    notes = " ".join(advisor.optimal(50).performance_notes)
    assert "20 per 3.04 s, learned from the upstream" in notes
    assert "3.04379" not in notes + str(check)


def test_optimal_honours_the_requests_max_workers() -> None:
    """max_workers=2 caps the recommendation and the estimate; 50 is clamped to 20, as a batch."""
    advisor = ConfigAdvisor(load_settings(), MEASURED)
    auto = advisor.optimal(50)
    capped = advisor.optimal(50, max_workers=2)
    assert (capped.recommended_workers, capped.max_workers) == (2, 2)
    assert capped.estimated_time_seconds > auto.estimated_time_seconds
    assert any(n.startswith("max_workers=2 holds") for n in capped.performance_notes)
    clamped = advisor.optimal(50, max_workers=50)
    assert (clamped.max_workers, clamped.recommended_workers) == (20, auto.recommended_workers)
    assert any("clamped to 20" in n for n in clamped.performance_notes)
    assert auto.max_workers is None
