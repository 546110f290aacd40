"""``config/validate`` and ``config/optimal``: advice from the settings and measured figures.

The seed answered from a fixed table. Here the recommendation follows from the upstream's
rate limit and the latency the gate has actually measured (Little's law: workers needed =
rate x latency), and every answer says which basis it used.

Both answers draw on one figure, ``useful_workers``: the most workers any batch the server
accepts (up to BATCH_MAX_SLIDES) can keep busy, bursts included. validate calls
BATCH_MAX_WORKERS too high only above it, and optimal never recommends more, so the two
endpoints cannot contradict each other. Both also respect the gate's in-flight cap, and
both state the rate limit through one reading of the gate's figures (``rate_reading``):
the rate and window the gate uses, learned or configured, rounded for display.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from slidebatch.config import ProviderName, Settings
from slidebatch.core.estimate import (
    UpstreamFigures,
    estimate_seconds,
    format_duration,
    workers_to_saturate,
)

# OpenRouter's published limit for free models; used to flag impossible configurations.
OPENROUTER_FREE_RPM = 20
# A learned window is a measurement (3.04379 s); answers show it to this many decimals.
WINDOW_DECIMALS = 2


@dataclass(frozen=True, slots=True)
class RateReading:
    """The rate limit the gate applies now, as both endpoints state it."""

    rate: int | None  # requests per window; None: no limit known
    window_seconds: float  # rounded to WINDOW_DECIMALS
    learned: bool  # from the upstream's answers, not UPSTREAM_RPM / the window setting

    @property
    def text(self) -> str:
        """``20 per 3.04 s, learned from the upstream``; ``no rate limit known``."""
        if self.rate is None:
            return "no rate limit known"
        source = "learned from the upstream" if self.learned else "configured"
        return f"{self.rate} per {self.window_seconds:g} s, {source}"


def rate_reading(figures: UpstreamFigures) -> RateReading:
    """The gate's rate and window from ``figures``: the one reading validate and optimal use."""
    return RateReading(
        rate=figures.rate,
        window_seconds=round(figures.window, WINDOW_DECIMALS),
        learned=figures.learned,
    )


@dataclass(frozen=True, slots=True)
class CurrentConfig:
    """The settings the advice is about, with the figures it used."""

    batch_default_workers: int | str
    batch_max_workers: int
    batch_max_concurrent: int
    batch_cleanup_hours: float
    batch_max_slides: int
    llm_timeout_seconds: float
    provider: str
    llm_image_model: str
    upstream_rpm: int | None
    upstream_rate_window_seconds: float
    upstream_rpd: int | None
    upstream_max_in_flight: int
    effective_rate: int | None
    # The window the gate applies effective_rate over: the setting, or what it learned.
    effective_window_seconds: float
    rate_learned: bool  # effective_rate / effective_window_seconds came from the upstream
    measured_latency_seconds: float | None


@dataclass(frozen=True, slots=True)
class ConfigCheck:
    """``config/validate``: problems found and advice."""

    valid: bool
    issues: tuple[str, ...]
    recommendations: tuple[str, ...]
    current_config: CurrentConfig


@dataclass(frozen=True, slots=True)
class ConfigAdvice:
    """``config/optimal``: recommended workers and the time a deck should take."""

    slides_count: int
    recommended_workers: int
    estimated_time_seconds: float
    estimated_time_formatted: str
    max_possible_workers: int
    performance_notes: tuple[str, ...]
    basis: str
    max_workers: int | None = None  # the request's cap as a batch would get it; None: auto


@dataclass(frozen=True, slots=True)
class ConfigAdvisor:
    settings: Settings
    figures: UpstreamFigures
    in_flight_cap: int | None = None  # the gate's cap on requests in flight, all batches

    @property
    def max_workers(self) -> int:
        """The most workers one batch can really have: BATCH_MAX_WORKERS and the gate's cap."""
        cap = self.settings.batch_max_workers
        return min(cap, self.in_flight_cap) if self.in_flight_cap else cap

    def useful_workers(self) -> int:
        """The most workers any accepted batch (up to BATCH_MAX_SLIDES) can keep busy."""
        unbounded = max(self.settings.batch_max_workers, self.settings.batch_max_slides)
        return self._fewest_workers_for_best_time(self.settings.batch_max_slides, unbounded)

    def validate(self) -> ConfigCheck:
        """Check the settings against each other and the upstream's known limits."""
        s = self.settings
        issues: list[str] = []
        advice: list[str] = []
        provider = s.provider
        reading = rate_reading(self.figures)
        if provider is ProviderName.LOCAL:
            advice.append("No API key is set: slides are drawn by the offline local renderer.")
        elif s.upstream_rpm is None and reading.learned and reading.rate is not None:
            advice.append(
                "UPSTREAM_RPM is not set: the gate learned the limit from the upstream's "
                f"answers ({reading.rate} per {reading.window_seconds:g} s); set UPSTREAM_RPM "
                "and UPSTREAM_RATE_WINDOW_SECONDS to the provider's published limit so that "
                "a restart starts there instead of learning it again."
            )
        elif s.upstream_rpm is None:
            advice.append(
                "UPSTREAM_RPM is not set: the limit is learned from X-RateLimit headers and 429s; "
                f"set it (e.g. {OPENROUTER_FREE_RPM} for OpenRouter free models) to avoid 429s."
            )
        if (
            provider is ProviderName.OPENROUTER
            and s.llm_image_model.endswith(":free")
            and (s.upstream_rpm or 0) > OPENROUTER_FREE_RPM
        ):
            issues.append(
                f"UPSTREAM_RPM={s.upstream_rpm} is above OpenRouter's {OPENROUTER_FREE_RPM} "
                "requests/minute for free models: expect 429s."
            )
        saturate = workers_to_saturate(self.figures)
        useful = self.useful_workers()
        if s.batch_max_workers > useful:
            advice.append(
                f"BATCH_MAX_WORKERS={s.batch_max_workers} is above the {useful} workers that "
                f"even a batch of BATCH_MAX_SLIDES={s.batch_max_slides} slides can keep busy "
                "at this rate limit and latency; the extra ones would only wait."
            )
        p95 = self.figures.latency_p95
        if p95 is not None and self.figures.measured and s.llm_timeout_seconds < p95 * 1.5:
            issues.append(
                f"LLM_TIMEOUT_SECONDS={s.llm_timeout_seconds:g} is close to the measured p95 "
                f"latency ({p95:.1f} s): slow answers will time out and be paid for again."
            )
        if s.batch_max_concurrent * s.batch_max_workers < s.upstream_max_in_flight and saturate:
            advice.append(
                "UPSTREAM_MAX_IN_FLIGHT is above what all batches together can use; that is fine."
            )
        if s.batch_default_workers != "auto":
            advice.append(
                "BATCH_DEFAULT_WORKERS=auto lets the scheduler run each batch as fast as the "
                "rate limit allows without tuning."
            )
        return ConfigCheck(not issues, tuple(issues), tuple(advice), self._current())

    def optimal(self, slides_count: int, max_workers: int | None = None) -> ConfigAdvice:
        """Recommended workers and the time ``slides_count`` slides should take.

        ``max_workers`` is the batch request's cap, honoured as a batch would be: clamped to
        what a batch may have, and the estimate is for at most that many in flight.
        """
        cap = self.max_workers
        allowed = min(max_workers, cap) if max_workers is not None else cap
        recommended = self._fewest_workers_for_best_time(slides_count, allowed)
        seconds = estimate_seconds(slides_count, self.figures, recommended)
        basis = "measured" if self.figures.measured else "configured"
        notes = [self._basis_note(basis), *self._rate_notes(slides_count, cap)]
        if max_workers is not None:
            notes.extend(self._asked_notes(slides_count, max_workers, cap, seconds))
        notes.append("Leave max_workers out (auto) and the scheduler does this for you.")
        return ConfigAdvice(
            slides_count=slides_count,
            recommended_workers=recommended,
            estimated_time_seconds=round(seconds, 1),
            estimated_time_formatted=format_duration(seconds),
            max_possible_workers=cap,
            performance_notes=tuple(notes),
            basis=basis,
            max_workers=allowed if max_workers is not None else None,
        )

    def _rate_notes(self, slides_count: int, cap: int) -> list[str]:
        """What the rate limit means for ``slides_count`` slides, and whether ``cap`` binds."""
        s = self.settings
        notes = []
        reading = rate_reading(self.figures)
        if reading.rate:
            rounds = math.ceil(slides_count / reading.rate)
            notes.append(
                f"The rate limit ({reading.text}) binds: "
                f"{slides_count} slides need {rounds} window(s); more workers do not help."
                if rounds > 1
                else f"{slides_count} slides fit in one rate window ({reading.text})."
            )
        saturate = workers_to_saturate(self.figures)
        if saturate is not None and saturate > cap:
            notes.append(
                f"{saturate} workers would keep the rate limit busy, above the {cap} a batch "
                f"may have (BATCH_MAX_WORKERS={s.batch_max_workers}, "
                f"in-flight cap {self.in_flight_cap or s.upstream_max_in_flight})."
            )
        return notes

    def _asked_notes(self, slides_count: int, asked: int, cap: int, seconds: float) -> list[str]:
        """What the request's ``max_workers`` does: clamped, or slower than automatic."""
        if asked > cap:
            return [f"max_workers={asked} is clamped to {cap}, the most a batch may have."]
        best = self._fewest_workers_for_best_time(slides_count, cap)
        fastest = estimate_seconds(slides_count, self.figures, best)
        if fastest >= seconds:
            return []
        return [
            f"max_workers={asked} holds this batch to {asked} request(s) at once: about "
            f"{format_duration(seconds)}, where {best} would take about "
            f"{format_duration(fastest)}."
        ]

    def _fewest_workers_for_best_time(self, slides: int, cap: int) -> int:
        """The smallest cap that is as fast as no cap at all (up to ``cap``).

        Little's law (rate x latency) keeps the rate busy on average, but a fresh window
        allows a burst of ``rate`` at once: a deck finishes sooner with that many in flight.
        """
        best = estimate_seconds(slides, self.figures, None)
        for workers in range(1, min(slides, cap) + 1):
            if estimate_seconds(slides, self.figures, workers) <= best:
                return workers
        return max(1, min(slides, cap))

    def _basis_note(self, basis: str) -> str:
        f = self.figures
        if basis == "measured":
            return f"Based on measured upstream latency: median {f.latency:.1f} s."
        return f"Based on configured limits and an assumed latency of {f.latency:.1f} s."

    def _current(self) -> CurrentConfig:
        s = self.settings
        reading = rate_reading(self.figures)
        return CurrentConfig(
            batch_default_workers=s.batch_default_workers,
            batch_max_workers=s.batch_max_workers,
            batch_max_concurrent=s.batch_max_concurrent,
            batch_cleanup_hours=s.batch_cleanup_hours,
            batch_max_slides=s.batch_max_slides,
            llm_timeout_seconds=s.llm_timeout_seconds,
            provider=str(s.provider),
            llm_image_model=s.llm_image_model,
            upstream_rpm=s.upstream_rpm,
            upstream_rate_window_seconds=s.upstream_rate_window_seconds,
            upstream_rpd=s.upstream_rpd,
            upstream_max_in_flight=s.upstream_max_in_flight,
            effective_rate=reading.rate,
            effective_window_seconds=reading.window_seconds,
            rate_learned=reading.learned,
            measured_latency_seconds=round(self.figures.latency, 3)
            if self.figures.measured
            else None,
        )
