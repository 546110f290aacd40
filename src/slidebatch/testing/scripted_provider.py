"""``ScriptedProvider``: an in-process ``ImageProvider`` on an injected clock, for scheduler
and engine tests and simulations.

Each slide id may have a script of steps (``Succeed``, ``Fail``, ``Hang``) consumed one per
attempt; when it runs out, attempts succeed after ``default_latency``. An optional upstream
window (``limit`` per ``window`` seconds, counted on arrival like a real upstream) answers
429s with ``Retry-After`` and X-RateLimit figures, and sends the figures with successes.
``refusal_headers`` makes its 429s carry raw headers instead (a dialect, or junk), read by
the providers' own parser as a real answer's would be. It records every call so tests can
assert on start times and concurrency.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import httpx

from slidebatch.errors import ProviderError, RateLimited
from slidebatch.providers.base import ImageRequest, ImageResult, RateLimitInfo
from slidebatch.providers.faults import error_for_response
from slidebatch.providers.http import UpstreamResponse, parse_rate_limit
from slidebatch.scheduler.clock import Clock

_PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


@dataclass(frozen=True, slots=True)
class Succeed:
    """Answer with an image after ``latency`` seconds."""

    latency: float


@dataclass(frozen=True, slots=True)
class Fail:
    """Raise ``error`` after ``latency`` seconds."""

    error: ProviderError
    latency: float = 0.0


@dataclass(frozen=True, slots=True)
class Hang:
    """Never answer (until the caller gives up)."""


Step = Succeed | Fail | Hang
# The headers of a 429, given the upstream's limit and its true wait in seconds.
RefusalHeaders = Callable[[int, float], Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class Call:
    """One attempt as the upstream saw it."""

    slide_id: str
    started: float
    ended: float | None = None
    outcome: str = "running"


@dataclass(slots=True)
class _Upstream:
    limit: int
    window: float
    count_refused: bool = False  # a harsher upstream: refused arrivals use up the window too
    arrivals: deque[float] = field(default_factory=deque)

    def admit(self, now: float) -> tuple[int, float] | RateLimited:
        """Count an arrival: (remaining, absolute reset time), or the 429 to answer."""
        while self.arrivals and self.arrivals[0] <= now - self.window:
            self.arrivals.popleft()
        if len(self.arrivals) >= self.limit:
            if self.count_refused:
                self.arrivals.append(now)
            wait = self.arrivals[0] + self.window - now
            return RateLimited(
                "rate limit exceeded",
                retry_after=wait,
                limit=self.limit,
                remaining=0,
                reset_after=wait,
            )
        self.arrivals.append(now)
        return self.limit - len(self.arrivals), self.arrivals[0] + self.window


class ScriptedProvider:
    """A provider whose every answer is decided by the test."""

    def __init__(
        self,
        clock: Clock,
        *,
        default_latency: float | Callable[[ImageRequest], float] = 1.0,
        script: Mapping[str, Sequence[Step]] | None = None,
        upstream_limit: int | None = None,
        upstream_window: float = 60.0,
        send_rate_headers: bool = True,
        count_refused: bool = False,
        refusal_headers: RefusalHeaders | None = None,
        credential_id: str = "scripted",
    ) -> None:
        self._clock = clock
        self._default_latency = default_latency
        self._script = {key: deque(steps) for key, steps in (script or {}).items()}
        self._upstream = (
            _Upstream(upstream_limit, upstream_window, count_refused)
            if upstream_limit is not None
            else None
        )
        self._send_headers = send_rate_headers
        self._refusal_headers = refusal_headers
        self._credential_id = credential_id
        self.calls: list[Call] = []
        self.in_flight = 0
        self.max_in_flight = 0

    @property
    def name(self) -> str:
        return "scripted"

    @property
    def credential_id(self) -> str:
        return self._credential_id

    def starts(self) -> list[float]:
        """The clock time of every attempt, in order."""
        return [call.started for call in self.calls]

    def count(self, outcome: str) -> int:
        """How many attempts ended with ``outcome`` (ok, rate_limited, transient, ...)."""
        return sum(1 for call in self.calls if call.outcome == outcome)

    async def generate(self, request: ImageRequest) -> ImageResult:
        """Play the next step of this slide's script."""
        started = self._clock.now()
        index = len(self.calls)
        self.calls.append(Call(request.slide.id, started))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        outcome = "cancelled"
        try:
            result = await self._play(request, started)
            outcome = "ok"
            return result
        except ProviderError as error:
            outcome = error.kind
            raise
        finally:
            self.in_flight -= 1
            self.calls[index] = Call(request.slide.id, started, self._clock.now(), outcome)

    async def _play(self, request: ImageRequest, started: float) -> ImageResult:
        figures: tuple[int, float] | None = None
        if self._upstream is not None:
            admitted = self._upstream.admit(started)
            if isinstance(admitted, RateLimited):
                # Refused at the door: the slide's script is not consumed.
                raise self._refusal(admitted)
            figures = admitted
        steps = self._script.get(request.slide.id)
        step = steps.popleft() if steps else Succeed(self._latency(request))
        if isinstance(step, Hang):
            while True:
                await self._clock.sleep(3600.0)
        await self._clock.sleep(step.latency)
        if isinstance(step, Fail):
            raise step.error
        return ImageResult(
            data=_PNG_1X1,
            mime_type="image/png",
            width=1,
            height=1,
            latency_s=self._clock.now() - started,
            rate_limit=self._headers(figures),
        )

    def _refusal(self, refused: RateLimited) -> ProviderError:
        """The 429 as the test's headers say it, read like a real answer."""
        if self._refusal_headers is None or self._upstream is None:
            return refused
        wait = refused.retry_after if refused.retry_after is not None else 0.0
        headers = httpx.Headers(self._refusal_headers(self._upstream.limit, wait))
        response = UpstreamResponse(
            status=429,
            headers=headers,
            body=b'{"error": {"message": "rate limit exceeded", "type": "requests"}}',
            rate_limit=parse_rate_limit(headers),
            request_id=None,
        )
        return error_for_response(response, secret=None)

    def _headers(self, figures: tuple[int, float] | None) -> RateLimitInfo:
        # Like X-RateLimit-Reset: an absolute time, read as "seconds from now" on arrival.
        if figures is None or self._upstream is None or not self._send_headers:
            return RateLimitInfo()
        remaining, reset_at = figures
        reset_after = max(0.0, reset_at - self._clock.now())
        return RateLimitInfo(self._upstream.limit, remaining, reset_after)

    def _latency(self, request: ImageRequest) -> float:
        if callable(self._default_latency):
            return self._default_latency(request)
        return self._default_latency
