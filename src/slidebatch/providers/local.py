"""The local provider: a thin adapter from ``ImageProvider`` to the offline renderer (render/).

The default provider when no key is configured, and the stand-in drawer when degradation is
on and an upstream failed (:func:`placeholder_image`). Rendering runs off the event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from slidebatch.observability.pipeline_log import EventLog
from slidebatch.providers.base import ImageRequest, ImageResult
from slidebatch.render import RenderedSlide, draw_slide
from slidebatch.render.fonts import FontSet, find_fonts
from slidebatch.render.notes import needs_cjk


def placeholder_image(
    request: ImageRequest, reason: str, *, long_side: int, fonts: FontSet | None = None
) -> ImageResult:
    """A clearly marked stand-in for ``request``'s slide, drawn now (blocking)."""
    drawn = _draw(request, long_side=long_side, placeholder_reason=reason, fonts=fonts)
    # A stand-in for a failed upstream slide: what its failed attempts cost is not known.
    return _result(drawn, latency_s=0.0, placeholder=True, cost=None)


def _draw(
    request: ImageRequest,
    *,
    long_side: int,
    placeholder_reason: str | None,
    fonts: FontSet | None,
) -> RenderedSlide:
    return draw_slide(
        request.slide,
        request.style_prompt,
        request.aspect_ratio,
        long_side=long_side,
        placeholder_reason=placeholder_reason,
        fonts=fonts,
    )


def _result(
    drawn: RenderedSlide, *, latency_s: float, placeholder: bool, cost: float | None
) -> ImageResult:
    return ImageResult(
        data=drawn.png,
        mime_type="image/png",
        width=drawn.width,
        height=drawn.height,
        latency_s=latency_s,
        cost=cost,
        placeholder=placeholder,
        warnings=drawn.warnings,
    )


class LocalRenderer:
    """``ImageProvider`` that draws slides itself; ``delay_seconds`` makes it slow on purpose.

    ``log`` hears once, as the event ``render_font_missing``, that no CJK font is installed
    (each slide's own boxes are a warning on its result); without a log nobody is told.
    """

    def __init__(
        self,
        *,
        long_side: int = 1920,
        delay_seconds: float = 0.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        fonts: FontSet | None = None,
        clock: Callable[[], float] = time.perf_counter,
        log: EventLog | None = None,
    ) -> None:
        self._long_side = long_side
        self._log = log
        self._delay = delay_seconds
        self._sleep = sleep
        self._fonts = fonts
        self._clock = clock
        self._warned = False

    @property
    def name(self) -> str:
        return "local"

    @property
    def credential_id(self) -> str:
        return "local"

    def fonts(self, request: ImageRequest | None = None) -> FontSet:
        """The fonts in use; warns once if ``request`` has Chinese text no font can draw."""
        fonts = self._fonts or find_fonts()
        if request is not None and not fonts.has_cjk and not self._warned:
            slide = request.slide
            if needs_cjk(f"{slide.title}{slide.content_text}"):
                self._warned = True
                self._font_missing(fonts)
        return fonts

    def _font_missing(self, fonts: FontSet) -> None:
        if self._log is not None:
            self._log.event(
                "render_font_missing",
                level="warning",
                details={
                    "font": fonts.regular.path,
                    "script": "cjk",
                    "fix": "apt-get install fonts-noto-cjk",
                },
            )

    async def generate(self, request: ImageRequest) -> ImageResult:
        """Draw ``request.slide`` in ``request.style_prompt``'s palette."""
        return await self._render(request, placeholder_reason=None)

    async def render_placeholder(self, request: ImageRequest, reason: str) -> ImageResult:
        """A clearly marked stand-in for a slide the upstream could not produce."""
        return await self._render(request, placeholder_reason=reason)

    async def _render(
        self, request: ImageRequest, *, placeholder_reason: str | None
    ) -> ImageResult:
        started = self._clock()
        if self._delay > 0:
            await self._sleep(self._delay)
        drawn = await asyncio.to_thread(
            _draw,
            request,
            long_side=self._long_side,
            placeholder_reason=placeholder_reason,
            fonts=self.fonts(request),
        )
        placeholder = placeholder_reason is not None
        return _result(
            drawn,
            latency_s=self._clock() - started,
            placeholder=placeholder,
            # Drawn here, so known to be free: 0, not null (null means a price not known).
            # A stand-in for a failed upstream slide does not know what its attempts cost.
            cost=None if placeholder else 0.0,
        )
