"""The canvas a layout works in: its size, margins and the short-side scale."""

from __future__ import annotations

from dataclasses import dataclass

from slidebatch.render.fonts import FontSet
from slidebatch.render.textfit import Box


@dataclass(frozen=True, slots=True)
class Frame:
    """Pixel size, fonts, and helpers turning fractions of the short side into pixels."""

    width: int
    height: int
    fonts: FontSet

    @property
    def short(self) -> int:
        return min(self.width, self.height)

    @property
    def margin(self) -> int:
        return round(self.short * 0.075)

    @property
    def landscape(self) -> bool:
        return self.width >= self.height * 1.2

    def px(self, fraction: float) -> int:
        return max(1, round(self.short * fraction))

    def min_size(self, fraction: float) -> int:
        # Below ~8 px text is noise; tiny canvases (property tests) still get legible glyphs.
        return max(8, self.px(fraction))

    def split(self, area: Box, *, text_share: float) -> tuple[Box, Box]:
        """``area`` cut in two: text first, art second (side by side, or stacked in portrait)."""
        gap = self.px(0.04)
        if self.landscape:
            cut = area.x0 + round(area.width * text_share)
            return Box(area.x0, area.y0, cut, area.y1), Box(
                min(cut + gap, area.x1), area.y0, area.x1, area.y1
            )
        cut = area.y0 + round(area.height * text_share)
        return Box(area.x0, area.y0, area.x1, cut), Box(
            area.x0, min(cut + gap, area.y1), area.x1, area.y1
        )

    def columns(self, area: Box, count: int, *, gap_fraction: float = 0.03) -> list[Box]:
        """``count`` equal columns across ``area`` (rows when the canvas is portrait)."""
        gap = self.px(gap_fraction)
        count = max(1, count)
        if self.landscape or count == 1:
            width = (area.width - gap * (count - 1)) // count
            return [
                Box(
                    area.x0 + i * (width + gap),
                    area.y0,
                    area.x0 + i * (width + gap) + width,
                    area.y1,
                )
                for i in range(count)
            ]
        height = (area.height - gap * (count - 1)) // count
        return [
            Box(
                area.x0,
                area.y0 + i * (height + gap),
                area.x1,
                area.y0 + i * (height + gap) + height,
            )
            for i in range(count)
        ]
