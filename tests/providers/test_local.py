"""The local provider: the ImageProvider contract over the renderer, delays, font warnings."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.slide import Slide, SlideType
from slidebatch.providers.base import ImageProvider, ImageRequest
from slidebatch.providers.local import LocalRenderer, placeholder_image
from slidebatch.render.fonts import BUILTIN
from slidebatch.testing.memory_log import MemoryLog

STYLE = "商务风格，深蓝 #1A365D 与金色 #D4AF37 点缀"
WIDE = AspectRatio(16, 9)


def _slide(
    title: str = "市场机遇与挑战",
    content: str = "- 数字化转型加速\n- 新兴市场带来增量空间",
    slide_type: SlideType = SlideType.CONTENT,
) -> Slide:
    return Slide(id="s", page_num=2, type=slide_type, title=title, content_text=content)


def _request(slide: Slide | None = None) -> ImageRequest:
    return ImageRequest(prompt="p", slide=slide or _slide(), style_prompt=STYLE, aspect_ratio=WIDE)


async def test_provider_returns_png_with_size_and_zero_cost() -> None:
    """LocalRenderer keeps the ImageProvider contract, reports the image's size, and costs 0
    (known to be free: not None, which means a price not known)."""
    renderer = LocalRenderer(long_side=640)
    assert isinstance(renderer, ImageProvider)
    assert (renderer.name, renderer.credential_id) == ("local", "local")
    result = await renderer.generate(_request())
    assert (result.width, result.height) == (640, 360)
    assert result.mime_type == "image/png"
    assert result.cost == 0.0
    assert not result.placeholder
    assert result.latency_s >= 0
    assert Image.open(io.BytesIO(result.data)).size == (640, 360)


async def test_delay_uses_the_injected_sleep() -> None:
    """delay_seconds waits through the injected sleep, never the real clock."""
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    renderer = LocalRenderer(long_side=320, delay_seconds=2.5, sleep=fake_sleep)
    await renderer.generate(_request())
    assert waits == [2.5]


async def test_placeholder_result_is_marked() -> None:
    """render_placeholder returns an image flagged as a placeholder."""
    result = await LocalRenderer(long_side=320).render_placeholder(_request(), "rate limited")
    assert result.placeholder


async def test_missing_cjk_font_warns_once_per_renderer() -> None:
    """Without a CJK font one warning event is logged, however many slides are drawn."""
    log = MemoryLog()
    renderer = LocalRenderer(long_side=320, fonts=BUILTIN, log=log)
    await renderer.generate(_request())
    await renderer.generate(_request())
    warnings = [e for e in log.events if e.level == "warning"]
    assert len(warnings) == 1
    assert warnings[0].name == "render_font_missing"
    assert "fonts-noto-cjk" in warnings[0].fields["details"]["fix"]


@pytest.mark.usefixtures("cjk_font")
async def test_cjk_font_present_gives_no_warning() -> None:
    """With a CJK font on the machine nothing is logged."""
    log = MemoryLog()
    await LocalRenderer(long_side=320, log=log).generate(_request())
    assert not log.events


def test_placeholder_image_reports_the_size_it_draws() -> None:
    """The degraded-slide stand-in reports the size it was drawn at, not a fixed 1920."""
    result = placeholder_image(_request(), "upstream timed out", long_side=800)
    assert result.placeholder
    assert (result.width, result.height) == (800, 450)
    assert Image.open(io.BytesIO(result.data)).size == (800, 450)
