"""How much of a slide is empty: the share of uniform tiles in a small copy of it.

A person reads a slide at a glance; large flat areas are what a glance sees as "nothing
there". The slide is scaled to 192x108 and cut into 12x12 tiles (16x9 of them); a tile is
uniform when no channel varies by more than ``TOLERANCE`` inside it.
"""

from __future__ import annotations

from PIL import Image

SAMPLE_SIZE = (192, 108)
TILE = 12
TOLERANCE = 4


def uniform_share(image: Image.Image) -> float:
    """Share (0..1) of uniform 12x12 tiles of ``image`` scaled to 192x108."""
    small = image.convert("RGB").resize(SAMPLE_SIZE, Image.Resampling.BOX)
    tiles = uniform = 0
    for top in range(0, SAMPLE_SIZE[1] - TILE + 1, TILE):
        for left in range(0, SAMPLE_SIZE[0] - TILE + 1, TILE):
            tile = small.crop((left, top, left + TILE, top + TILE))
            tiles += 1
            if _flat(tile):
                uniform += 1
    return uniform / tiles


def _flat(tile: Image.Image) -> bool:
    extrema = tile.getextrema()
    return all(high - low <= TOLERANCE for low, high in extrema)  # type: ignore[misc]
