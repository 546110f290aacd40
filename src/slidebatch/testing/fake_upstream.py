"""The fake upstream every test and benchmark runs against (there is no internet here).

OpenRouter-, Gemini- and OpenAI-shaped endpoints on one Starlette app, with a sliding-window
rate limit answered by 429 in each provider's rate-limit dialect (``fake_limits``), seeded
lognormal latency, a ``time_scale`` that shrinks every duration, seeded or scripted faults,
real PNG answers and a ``/stats`` record of every request. Use it in-process::

    app = create_fake_upstream(FakeUpstreamConfig(rpm=None, latency_median=0))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app))

or on loopback with :class:`FakeUpstreamServer` (a context manager), or as
``slidebatch fake-upstream``. Paths: ``/api/v1/chat/completions`` (so
``LLM_API_BASE=http://127.0.0.1:PORT/api/v1``), ``/v1beta/models/{model}:generateContent``,
``/v1/images/generations``; ``GET /stats``, ``POST /stats/reset``, ``POST /control/force``.
"""

from __future__ import annotations

import itertools
import random
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from slidebatch.scheduler.clock import Clock, SystemClock
from slidebatch.testing.fake_behaviour import (
    Dialect,
    FakeUpstreamConfig,
    Fault,
    FaultPlan,
    ImageFormat,
    LatencyModel,
    RequestRecord,
    SlidingWindow,
    StatsRecorder,
    prompt_switches,
)
from slidebatch.testing.fake_chat import chat_answer, completion, sse_chunks
from slidebatch.testing.fake_images import ImagePainter, huge_png
from slidebatch.testing.fake_limits import (
    DEFAULT_RESET_STYLE,
    Figures,
    HeaderDialect,
    ResetStyle,
    limit_headers,
    retry_after_header,
    retry_delay,
)
from slidebatch.testing.fake_shapes import (
    Ask,
    GeminiShape,
    OpenAIShape,
    OpenRouterShape,
    Shape,
    Style,
)

__all__ = [
    "Dialect",
    "FakeUpstream",
    "FakeUpstreamConfig",
    "FakeUpstreamServer",
    "Fault",
    "ImageFormat",
    "create_fake_upstream",
]

_DAY_SECONDS = 86400.0
_HANG_POLL_S = 0.05
_MALFORMED = b'{"choices": [{"message": {"role": "assistant", "content": "Here is'


# Faults answered before the request is admitted or any image is made.
_REFUSED_BEFORE_WORK = frozenset({Fault.RATE_LIMIT, Fault.QUOTA_DAILY, Fault.NO_CREDITS})


class FakeUpstream:
    """The fake's state behind the app: limits, latency, faults, images and the request log."""

    def __init__(
        self,
        config: FakeUpstreamConfig,
        *,
        clock: Clock | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._clock: Clock = clock or SystemClock()
        self._wall = wall
        scale = config.time_scale
        self._rpm = SlidingWindow(config.rpm, config.window_seconds * scale) if config.rpm else None
        self._rpd = SlidingWindow(config.rpd, _DAY_SECONDS * scale) if config.rpd else None
        self._latency = LatencyModel(
            config.latency_median,
            config.latency_p95,
            random.Random(config.seed),
            config.latency_max,
        )
        self.faults = FaultPlan(config.fault_rates, random.Random(f"faults-{config.seed}"))
        self.painter = ImagePainter()
        self.stats = StatsRecorder(scale, self._clock.now())
        self._ids = itertools.count(1)
        self._closed = threading.Event()

    def force(self, *outcomes: Fault | None) -> None:
        """Script the next requests' outcomes (``None``: a clean success)."""
        self.faults.force(*outcomes)

    def close(self) -> None:
        """End hanging requests (the server is shutting down)."""
        self._closed.set()

    def reset_stats(self) -> None:
        self.stats.reset(self._clock.now())

    async def serve(self, request: Request, shape: Shape) -> Response:
        """Answer one upstream request and record it."""
        record = self.stats.begin(shape.name, self._clock.now())
        status: int | None = None
        outcome = "cancelled"  # stays so if the client goes away mid-answer
        try:
            response, outcome = await self._answer(request, shape, record)
            status = response.status_code
            return response
        finally:
            self.stats.finish(record, self._clock.now(), status, outcome)

    async def _answer(
        self, request: Request, shape: Shape, record: RequestRecord
    ) -> tuple[Response, str]:
        key = shape.api_key(request)
        expected = self.config.expected_api_key
        if expected is not None and key != expected:
            status, body = shape.unauthorized(key)
            return JSONResponse(body, status_code=status), "unauthorized"
        try:
            ask = shape.parse(await request.json(), request.path_params)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            body = shape.error(400, f"invalid request: {type(exc).__name__}")
            return JSONResponse(body, status_code=400), "bad_request"
        record.model, record.aspect_ratio = ask.model, ask.aspect
        record.input_images = list(ask.input_images)
        now = self._clock.now()
        forced = self.faults.peek_forced(ask.prompt)
        if forced in _REFUSED_BEFORE_WORK:
            self.faults.take(ask.prompt)
            return self._refused_before_work(shape, now, forced)
        wait = self._admit(now)
        if wait > 0:
            return self._rate_limited(shape, now, wait), "rate_limited"
        fault = self.faults.take(ask.prompt)
        if fault in _REFUSED_BEFORE_WORK:
            # Drawn by --fault-rate: answered exactly like the forced or marked one.
            return self._refused_before_work(shape, now, fault)
        latency = self._latency.draw()
        self.stats.accept(record, now, latency, fault)
        headers = {"x-request-id": f"fake-{next(self._ids)}"}
        if fault is Fault.HANG:
            await self._hang(request)
            hung = JSONResponse(shape.error(504, "gateway timeout"), 504, headers)
            return self._with_limits(hung, shape), "hang"
        answer = self._build(shape, ask, fault, headers)
        spent = self._clock.now() - now
        await self._clock.sleep(latency * self.config.time_scale - spent)
        return self._with_limits(answer, shape), str(fault) if fault is not None else "ok"

    def _refused_before_work(
        self, shape: Shape, now: float, fault: Fault | None
    ) -> tuple[Response, str]:
        """A 429, a spent daily quota or an empty account: answered before any image work."""
        if fault is Fault.RATE_LIMIT:
            return self._rate_limited(shape, now, self._retry_wait(now)), "rate_limited"
        canned = (
            shape.quota_daily(self._wall()) if fault is Fault.QUOTA_DAILY else shape.no_credits()
        )
        return JSONResponse(canned.body, canned.status, canned.headers), str(fault)

    def _with_limits(self, response: Response, shape: Shape) -> Response:
        """Add the rate-limit figures as they stand when the answer is sent.

        Computed at admission they would be one latency stale on arrival: a relative reset
        would then overshoot the real one by the whole latency.
        """
        if self.config.limit_headers == "always" and not self.config.strip_limit_headers:
            response.headers.update(self._limit_headers(shape, self._clock.now()))
        return response

    def _admit(self, now: float) -> float:
        """0 when admitted (and counted); else wall seconds until a slot frees."""
        windows = [w for w in (self._rpm, self._rpd) if w is not None]
        wait = max((w.wait(now) for w in windows), default=0.0)
        if wait <= 0 or self.config.count_rejected:
            for window in windows:
                window.record(now)
        return wait

    def _retry_wait(self, now: float) -> float:
        wait = self._rpm.reset_after(now) if self._rpm is not None else 0.0
        return wait if wait > 0 else self.config.window_seconds * self.config.time_scale

    def _limit_headers(self, shape: Shape, now: float) -> dict[str, str]:
        """The window's figures in ``shape``'s dialect (``fake_limits``)."""
        if self._rpm is None or self.config.limit_headers == "never":
            return {}
        figures = Figures(self._rpm.limit, self._rpm.remaining(now), self._rpm.reset_after(now))
        return limit_headers(
            _header_dialect(shape),
            figures,
            style=self._reset_style(shape),
            wall=self._wall(),
            malformed=self.config.malformed_limit_headers,
        )

    def _reset_style(self, shape: Shape) -> ResetStyle:
        return self.config.reset_style or DEFAULT_RESET_STYLE.get(shape.name, "seconds")

    def _rate_limited(self, shape: Shape, now: float, wait: float) -> Response:
        config = self.config
        limits = self._limit_headers(shape, now)
        body = shape.rate_limited(wait)
        if isinstance(shape, GeminiShape):
            # Gemini's only word on the wait is RetryInfo.retryDelay in the body.
            detail = body["error"]["details"][0]
            detail["retryDelay"] = retry_delay(wait, config.malformed_limit_headers)
            return JSONResponse(body, status_code=429)
        if isinstance(shape, OpenRouterShape) and limits:
            # OpenRouter copies its rate-limit headers into the error body as well.
            body["error"].setdefault("metadata", {})["headers"] = limits
        headers = dict(limits)
        if config.retry_after:
            headers["Retry-After"] = retry_after_header(
                wait,
                style=self._reset_style(shape),
                wall=self._wall(),
                malformed=config.malformed_limit_headers,
            )
        if config.strip_limit_headers:
            headers = {}  # a relay dropped them; the body's copy got through
        return JSONResponse(body, status_code=429, headers=headers)

    async def _hang(self, request: Request) -> None:
        deadline = self._clock.now() + self.config.hang_wall_seconds
        while not self._closed.is_set() and self._clock.now() < deadline:
            if await request.is_disconnected():
                return
            await self._clock.sleep(min(_HANG_POLL_S, deadline - self._clock.now()))

    def _build(
        self, shape: Shape, ask: Ask, fault: Fault | None, headers: dict[str, str]
    ) -> Response:
        request_id = headers["x-request-id"]
        if fault in (Fault.ERROR_500, Fault.ERROR_502):
            status = int(fault)
            return JSONResponse(shape.error(status, "internal error"), status, headers)
        if fault is Fault.ERROR_503:
            retry = f"{self.config.overload_retry_after * self.config.time_scale:.3f}"
            body = shape.error(503, "The model is overloaded. Please try again later.")
            if not self.config.strip_limit_headers:
                headers = {**headers, "Retry-After": retry}
            return JSONResponse(body, 503, headers)
        if fault is Fault.MALFORMED:
            return Response(_MALFORMED, 200, headers, media_type="application/json")
        if fault is Fault.ERROR_IN_200:
            return JSONResponse(shape.error_in_200(), 200, headers)
        if fault is Fault.NO_IMAGE:
            return JSONResponse(shape.no_image(ask, request_id), 200, headers)
        if fault is Fault.CONTENT_POLICY:
            status, body = shape.content_policy(ask, request_id)
            return JSONResponse(body, status, headers)
        if ask.chat_messages is not None:
            return _chat_response(ask, request_id, headers)
        wrong = _wrong_size(ask.width, ask.height)
        draft = self.painter.png(wrong[0] // 2, wrong[1] // 2, "draft")
        if fault is Fault.REFUSED:
            canned = shape.refused(ask, request_id, self.config.refusal_reason, draft)
            return JSONResponse(canned.body, canned.status, {**headers, **canned.headers})
        style, fmt = self._style(ask.prompt)
        final = self.painter.image(ask.width, ask.height, "final", fmt)
        if fault is Fault.WRONG_ASPECT:
            images = [self.painter.image(*wrong, "final", fmt)]
        elif fault is Fault.HUGE_IMAGE:
            images = [huge_png()]
            style = Style(style.dialect, "image/png")
        elif fault is Fault.DRAFT_THEN_FINAL or style.dialect is Dialect.THOUGHT_DRAFTS:
            images = [draft, final]
        else:
            images = [final]
        body = shape.success(images, ask, request_id, self.config.cost_per_image, style)
        return JSONResponse(body, 200, headers)

    def _style(self, prompt: str) -> tuple[Style, str]:
        """The answer's dialect and image format: the prompt's switches, else the config's."""
        switches = prompt_switches(prompt)
        dialect = Dialect(switches.get("dialect", self.config.dialect))
        fmt = ImageFormat(switches.get("format", self.config.image_format))
        return Style(dialect, f"image/{fmt}"), fmt.upper()


def _chat_response(ask: Ask, request_id: str, headers: dict[str, str]) -> Response:
    """A text or vision chat answer, streamed as server-sent events when asked."""
    text = chat_answer(ask.chat_messages or ())
    if ask.stream:
        chunks = sse_chunks(text, request_id, ask.model)
        return StreamingResponse(chunks, 200, headers, media_type="text/event-stream")
    return JSONResponse(completion(text, request_id, ask.model), 200, headers)


def _header_dialect(shape: Shape) -> HeaderDialect:
    if isinstance(shape, GeminiShape):
        return "gemini"
    return "openai" if isinstance(shape, OpenAIShape) else "openrouter"


def _wrong_size(width: int, height: int) -> tuple[int, int]:
    """A size whose ratio is clearly not ``width:height``."""
    if width != height:
        return height, width
    return width * 16 // 9, height


def create_fake_upstream(
    config: FakeUpstreamConfig | None = None,
    *,
    clock: Clock | None = None,
    wall: Callable[[], float] = time.time,
) -> Starlette:
    """The fake upstream as an ASGI app; its state is ``app.state.fake`` (a ``FakeUpstream``).

    ``wall`` is the epoch clock behind epoch-style reset headers (tests pin it).
    """
    fake = FakeUpstream(config or FakeUpstreamConfig(), clock=clock, wall=wall)

    def endpoint(shape: Shape) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            return await fake.serve(request, shape)

        return handle

    async def stats(request: Request) -> Response:
        return JSONResponse({"config": fake.config.summary(), **fake.stats.snapshot()})

    async def reset(request: Request) -> Response:
        fake.reset_stats()
        return JSONResponse({"reset": True})

    async def force(request: Request) -> Response:
        body = await request.json()
        outcomes = [None if name in (None, "ok") else Fault(name) for name in body["outcomes"]]
        fake.force(*outcomes)
        return JSONResponse({"queued": len(outcomes)})

    routes = [
        Route("/api/v1/chat/completions", endpoint(OpenRouterShape()), methods=["POST"]),
        Route("/v1beta/models/{model}:generateContent", endpoint(GeminiShape()), methods=["POST"]),
        Route("/v1/images/generations", endpoint(OpenAIShape()), methods=["POST"]),
        Route("/stats", stats, methods=["GET"]),
        Route("/stats/reset", reset, methods=["POST"]),
        Route("/control/force", force, methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.fake = fake
    return app


class FakeUpstreamServer:
    """The fake upstream on loopback, served by uvicorn in a background thread.

    ``with FakeUpstreamServer(config) as server:`` then point a provider at
    ``server.openrouter_base`` / ``gemini_base`` / ``openai_base``; ``server.stats()`` reads the
    request log directly (no HTTP round trip).
    """

    def __init__(
        self, config: FakeUpstreamConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.app = create_fake_upstream(config)
        self.fake: FakeUpstream = self.app.state.fake
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=1,
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openrouter_base(self) -> str:
        return f"{self.base_url}/api/v1"

    @property
    def gemini_base(self) -> str:
        return f"{self.base_url}/v1beta"

    @property
    def openai_base(self) -> str:
        return f"{self.base_url}/v1"

    def start(self, startup_timeout: float = 10.0) -> None:
        """Serve in a daemon thread; return once the server accepts connections."""
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name="fake-upstream",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + startup_timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake upstream did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        """End hanging requests, stop uvicorn and wait for the thread."""
        self.fake.close()
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._socket.close()

    def stats(self) -> dict[str, Any]:
        """The same JSON as ``GET /stats``."""
        return {"config": self.fake.config.summary(), **self.fake.stats.snapshot()}

    def reset_stats(self) -> None:
        self.fake.reset_stats()

    def force(self, *outcomes: Fault | None) -> None:
        self.fake.force(*outcomes)

    def __enter__(self) -> FakeUpstreamServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def fake_client(app: Starlette, **kwargs: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` that talks to ``app`` in-process (no sockets)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), **kwargs)
