"""How the fake upstream behaves: its limits, its latency, its faults and its record of requests.

Everything random is drawn from generators seeded by ``FakeUpstreamConfig.seed``; latency and
faults use separate generators so turning faults on does not change the latencies drawn.
"""

from __future__ import annotations

import math
import random
import re
import threading
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal, get_args

from slidebatch.testing.fake_limits import Malformed, ResetStyle

# z-score of the 95th percentile of a standard normal: p95 = median * exp(1.645 * sigma).
_Z95 = 1.6448536269514722
_DAY_SECONDS = 86400.0
_MARKER = re.compile(r"\[\[fake:([a-z0-9_]+)\]\]")
_SWITCH = re.compile(r"\[\[(dialect|format):([a-z0-9_]+)\]\]")


class Fault(StrEnum):
    """One way an answer can go wrong; the values are also the prompt markers' names."""

    RATE_LIMIT = "429"
    ERROR_500 = "500"
    ERROR_502 = "502"
    ERROR_503 = "503"
    HANG = "hang"
    MALFORMED = "malformed"
    ERROR_IN_200 = "error_in_200"
    DRAFT_THEN_FINAL = "draft_then_final"
    NO_IMAGE = "no_image"
    WRONG_ASPECT = "wrong_aspect"
    CONTENT_POLICY = "content_policy"
    REFUSED = "refused"  # the model's refusal in the answer (finish reason + explanation)
    QUOTA_DAILY = "quota_daily"  # a daily cap: only the provider's midnight fixes it
    NO_CREDITS = "no_credits"  # 402 / insufficient_quota / limit 0: someone must pay
    HUGE_IMAGE = "huge_image"  # a 16000x9000 PNG header over a few bytes of data


class Dialect(StrEnum):
    """Where the image goes in a chat answer (OpenRouter-shaped endpoint), or how Gemini drafts.

    ``images`` is OpenRouter's ``message.images[]``; ``content_parts`` and ``markdown`` are
    what OpenAI-compatible relays send; ``thought_drafts`` makes Gemini send a ``thought``
    draft before the final image. A dialect a shape does not speak is its standard answer.
    """

    IMAGES = "images"
    CONTENT_PARTS = "content_parts"
    MARKDOWN = "markdown"
    THOUGHT_DRAFTS = "thought_drafts"


class ImageFormat(StrEnum):
    PNG = "png"
    JPEG = "jpeg"
    WEBP = "webp"


# The faults a bare ``--fault-rate 0.1`` spreads over: the ones a real upstream shows often.
COMMON_FAULTS = (
    Fault.ERROR_500,
    Fault.ERROR_502,
    Fault.ERROR_503,
    Fault.MALFORMED,
    Fault.ERROR_IN_200,
    Fault.NO_IMAGE,
)


@dataclass(frozen=True, slots=True)
class FakeUpstreamConfig:
    """The fake upstream's knobs. Durations are in unscaled upstream seconds unless named wall.

    ``time_scale`` multiplies the window, every latency and every Retry-After: 0.05 makes a
    60 s window pass in 3 wall seconds. ``rpm`` counts accepted requests per window, like
    OpenRouter; ``count_rejected`` also counts the rejected ones (a harsher upstream).
    ``limit_headers="on_429"`` sends the rate-limit figures only with 429 answers (as some
    providers do), ``"never"`` not at all, and ``retry_after=False`` leaves ``Retry-After`` out.
    Each shape words them in its provider's dialect (``fake_limits``); ``reset_style`` overrides
    the reset's format (``None``: the provider's own, epoch ms for OpenRouter, a duration for
    OpenAI; ``"http_date"`` also makes ``Retry-After`` an HTTP date). ``malformed_limit_headers``
    sends garbage, negative figures or a reset already past; ``strip_limit_headers`` is a relay
    that drops every rate-limit header, ``Retry-After`` included (error bodies pass unchanged).
    ``fault_rates`` keys may be ``Fault``s or their names (``"503"``); others are refused.
    """

    rpm: int | None = 20
    window_seconds: float = 60.0
    rpd: int | None = None
    latency_median: float = 9.0
    latency_p95: float = 20.0
    latency_max: float | None = None
    time_scale: float = 1.0
    seed: int = 1
    expected_api_key: str | None = None
    fault_rates: Mapping[Fault, float] = field(default_factory=dict)
    overload_retry_after: float = 5.0
    hang_wall_seconds: float = 3600.0
    count_rejected: bool = False
    reset_style: ResetStyle | None = None
    limit_headers: Literal["always", "on_429", "never"] = "always"
    retry_after: bool = True
    malformed_limit_headers: Malformed | None = None
    strip_limit_headers: bool = False
    cost_per_image: float = 0.134
    dialect: Dialect = Dialect.IMAGES
    image_format: ImageFormat = ImageFormat.PNG
    refusal_reason: str | None = None  # None: each shape's usual refusal

    def __post_init__(self) -> None:
        object.__setattr__(self, "fault_rates", _fault_keys(self.fault_rates))
        _check_choice("reset_style", self.reset_style, RESET_STYLES)
        _check_choice("limit_headers", self.limit_headers, ("always", "on_429", "never"))
        _check_choice("malformed_limit_headers", self.malformed_limit_headers, MALFORMED)
        if self.time_scale <= 0 or self.window_seconds <= 0:
            raise ValueError("time_scale and window_seconds must be positive")
        if self.latency_median < 0 or self.latency_p95 < self.latency_median:
            raise ValueError("latency needs 0 <= latency_median <= latency_p95")
        if sum(self.fault_rates.values()) > 1 or min(self.fault_rates.values(), default=0) < 0:
            raise ValueError("fault rates must be >= 0 and add up to at most 1")

    def summary(self) -> dict[str, Any]:
        """The config as JSON-friendly values (the expected key is never shown)."""
        shown = asdict(self)
        shown["fault_rates"] = {str(k): v for k, v in self.fault_rates.items()}
        shown["expected_api_key"] = "****" if self.expected_api_key else None
        return shown


RESET_STYLES: tuple[str, ...] = get_args(ResetStyle)
MALFORMED: tuple[str, ...] = get_args(Malformed)


def _fault_keys(rates: Mapping[Any, float]) -> dict[Fault, float]:
    """``fault_rates`` keyed by ``Fault``: a name such as ``"503"`` is coerced, junk refused.

    The fault plan matches faults by identity, so a string key left as is injected nothing.
    """
    coerced: dict[Fault, float] = {}
    for key, rate in rates.items():
        try:
            fault = Fault(key)
        except ValueError:
            known = ", ".join(f.value for f in Fault)
            raise ValueError(f"unknown fault {key!r} in fault_rates (known: {known})") from None
        coerced[fault] = coerced.get(fault, 0.0) + rate
    return coerced


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")


class SlidingWindow:
    """At most ``limit`` admissions in any ``window`` seconds (timestamps in wall seconds)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._times: deque[float] = deque()

    def _expire(self, now: float) -> None:
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()

    def wait(self, now: float) -> float:
        """Seconds until a slot frees (0 when one is free now)."""
        self._expire(now)
        if len(self._times) < self.limit:
            return 0.0
        return self._times[len(self._times) - self.limit] + self.window - now

    def record(self, now: float) -> None:
        self._times.append(now)

    def remaining(self, now: float) -> int:
        self._expire(now)
        return max(0, self.limit - len(self._times))

    def reset_after(self, now: float) -> float:
        """Seconds until the oldest counted request leaves the window."""
        self._expire(now)
        return self._times[0] + self.window - now if self._times else 0.0


class LatencyModel:
    """Lognormal latency with a given median and 95th percentile (heavy right tail)."""

    def __init__(self, median: float, p95: float, rng: random.Random, cap: float | None) -> None:
        self._median = median
        self._sigma = math.log(p95 / median) / _Z95 if median > 0 and p95 > median else 0.0
        self._rng = rng
        self._cap = cap

    def draw(self) -> float:
        """One latency in unscaled seconds."""
        if self._median <= 0:
            return 0.0
        value = self._median * math.exp(self._sigma * self._rng.gauss(0.0, 1.0))
        return min(value, self._cap) if self._cap is not None else value


class FaultPlan:
    """Which fault an answer gets: a forced queue first, then a prompt marker, then chance."""

    def __init__(self, rates: Mapping[Fault, float], rng: random.Random) -> None:
        self._rates = tuple((fault, rate) for fault, rate in rates.items() if rate > 0)
        self._rng = rng
        self._forced: deque[Fault | None] = deque()
        self._lock = threading.Lock()

    def force(self, *outcomes: Fault | None) -> None:
        """Queue outcomes for the next requests (``None`` forces a clean success)."""
        with self._lock:
            self._forced.extend(outcomes)

    def peek_forced(self, prompt: str) -> Fault | None:
        """The scripted fault the next request would get, without using it up."""
        with self._lock:
            if self._forced:
                return self._forced[0]
        return _marker(prompt)

    def take(self, prompt: str) -> Fault | None:
        """Use up this request's fault: forced, marked in the prompt, or drawn by rate."""
        with self._lock:
            if self._forced:
                return self._forced.popleft()
        marked = _marker(prompt)
        if marked is not None:
            return marked
        draw = self._rng.random()
        for fault, rate in self._rates:
            if draw < rate:
                return fault
            draw -= rate
        return None


def _marker(prompt: str) -> Fault | None:
    match = _MARKER.search(prompt)
    if match is None:
        return None
    try:
        return Fault(match.group(1))
    except ValueError:
        return None


def prompt_switches(prompt: str) -> dict[str, str]:
    """Per-request switches in the prompt: ``[[dialect:markdown]]``, ``[[format:webp]]``."""
    return {match.group(1): match.group(2) for match in _SWITCH.finditer(prompt)}


@dataclass(slots=True)
class RequestRecord:
    """One request as the fake saw it. Times are wall seconds since the stats epoch."""

    id: int
    endpoint: str
    arrival: float
    model: str = ""
    aspect_ratio: str = ""
    start: float | None = None
    end: float | None = None
    status: int | None = None
    outcome: str = "pending"
    fault: str | None = None
    latency_drawn: float | None = None  # unscaled upstream seconds, accepted requests only
    input_images: list[str] = field(default_factory=list)  # digests (fake_shapes.image_digest)


class StatsRecorder:
    """Every request's arrival, start, end, status and latency; safe to read from any thread."""

    def __init__(self, time_scale: float, epoch: float) -> None:
        self._scale = time_scale
        self._epoch = epoch
        self._records: list[RequestRecord] = []
        self._lock = threading.Lock()

    def reset(self, epoch: float) -> None:
        with self._lock:
            self._records.clear()
            self._epoch = epoch

    def begin(self, endpoint: str, now: float) -> RequestRecord:
        with self._lock:
            record = RequestRecord(
                id=len(self._records) + 1, endpoint=endpoint, arrival=now - self._epoch
            )
            self._records.append(record)
            return record

    def accept(
        self, record: RequestRecord, now: float, latency: float, fault: Fault | None
    ) -> None:
        """The request got past the limits: work starts now and takes ``latency``."""
        with self._lock:
            record.start = now - self._epoch
            record.latency_drawn = latency
            record.fault = str(fault) if fault is not None else None

    def finish(self, record: RequestRecord, now: float, status: int | None, outcome: str) -> None:
        with self._lock:
            record.end = now - self._epoch
            record.status = status
            record.outcome = outcome

    def snapshot(self) -> dict[str, Any]:
        """The JSON ``/stats`` answers: per-request rows and totals, wall and unscaled."""
        with self._lock:
            rows = [self._row(record) for record in self._records]
        accepted = [r for r in rows if r["latency_drawn"] is not None]
        ends = [r["end"] for r in rows if r["end"] is not None]
        first = min((r["arrival"] for r in rows), default=None)
        last = max(ends, default=None)
        span = last - first if first is not None and last is not None else None
        return {
            "time_scale": self._scale,
            "totals": {
                "requests": len(rows),
                "accepted": len(accepted),
                "rate_limited": sum(1 for r in rows if r["outcome"] == "rate_limited"),
                "by_status": dict(Counter(str(r["status"]) for r in rows)),
                "by_outcome": dict(Counter(r["outcome"] for r in rows)),
                "first_arrival": first,
                "last_end": last,
                "span_wall": span,
                "span_unscaled": span / self._scale if span is not None else None,
                "latency_drawn_sum": sum(r["latency_drawn"] for r in accepted),
                "latency_drawn_max": max((r["latency_drawn"] for r in accepted), default=None),
            },
            "requests": rows,
        }

    def _row(self, record: RequestRecord) -> dict[str, Any]:
        row = asdict(record)
        for name in ("arrival", "start", "end"):
            value = row[name]
            row[f"{name}_unscaled"] = value / self._scale if value is not None else None
        wall = (
            record.end - record.start
            if record.end is not None and record.start is not None
            else None
        )
        row["latency_wall"] = wall
        return row
