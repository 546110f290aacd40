"""The engine's own overheads, in process: per-slide engine cost and memory over time.

    PYTHONPATH=src python bench/api.py [--quick]

1. Per-slide overhead of engine plus storage: services built in-process with an instant
   provider (a cached tiny PNG), one 1,000-slide batch timed from submit to finished, / 1000.
   Goal: under 2 ms per slide on SQLite.
2. Resident memory before and after 1,000 finished batches (same in-process services).
   Goal: within 50 MB.

The API under load (status polls, concurrent submits, the list, event-loop lag, on SQLite and
PostgreSQL against a real server) is ``slidebatch bench --load`` (``slidebatch/bench/load.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil  # type: ignore[import-untyped]
from PIL import Image

from slidebatch.config import load_settings
from slidebatch.core.aspect import AspectRatio
from slidebatch.core.slide import BatchRequest, Slide, SlideType
from slidebatch.providers.base import ImageRequest, ImageResult
from slidebatch.services import build_services

SRC = Path(__file__).resolve().parents[1] / "src"
MEMORY_BATCHES = 1000
OVERHEAD_SLIDES = 1000


# ----------------------------------------------------------------------------- in-process


def _tiny_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 9), (40, 80, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


class InstantProvider:
    """Answers at once with the same tiny PNG: what is left is the engine and storage."""

    def __init__(self) -> None:
        self._png = _tiny_png()

    @property
    def name(self) -> str:
        return "instant"

    @property
    def credential_id(self) -> str:
        return "instant"

    async def generate(self, request: ImageRequest) -> ImageResult:
        return ImageResult(self._png, "image/png", 16, 9, latency_s=0.0)


def _request(slides: int, tag: str) -> BatchRequest:
    return BatchRequest(
        slides=tuple(
            Slide(
                id=f"{tag}-{page}",
                page_num=page,
                type=SlideType.CONTENT,
                title=f"Slide {page}",
                content_text="A point worth a slide.",
            )
            for page in range(1, slides + 1)
        ),
        style_prompt="flat, blue accents",
        aspect_ratio=AspectRatio(16, 9),
    )


def _rss_mb() -> float:
    gc.collect()
    return float(psutil.Process().memory_info().rss) / 2**20


@dataclass(frozen=True, slots=True)
class EngineFigures:
    overhead_ms: float
    batch_seconds: float
    rss_before_mb: float
    rss_after_mb: float
    memory_seconds: float
    batches: int


async def engine_figures(root: Path, *, memory_batches: int) -> EngineFigures:
    """Figures 2 and 3, with services built in-process on SQLite."""
    settings = load_settings(
        data_dir=root / "data",
        log_dir=root / "logs",
        batch_max_slides=OVERHEAD_SLIDES,
        batch_default_workers="auto",
        # The in-process provider has no limit to discover; the cold-start probe's spacing
        # (UPSTREAM_PROBE_SECONDS) is gate policy, not the engine overhead measured here.
        upstream_probe_seconds=0.0,
    )
    async with build_services(settings, provider=InstantProvider()) as services:
        engine = services.engine
        # Warm-up: imports, connection pool, prepared statements, the image folder.
        for number in range(20):
            batch, _ = await engine.submit(_request(3, f"warm{number}"))
            await engine.wait(batch.id)

        began = time.perf_counter()
        batch, _ = await engine.submit(_request(OVERHEAD_SLIDES, "big"))
        finished = await engine.wait(batch.id)
        batch_seconds = time.perf_counter() - began
        assert finished.state == "completed", finished.state

        before = _rss_mb()
        began = time.perf_counter()
        concurrent = settings.batch_max_concurrent
        for start in range(0, memory_batches, concurrent):
            submitted = [
                (await engine.submit(_request(3, f"m{start + i}")))[0]
                for i in range(min(concurrent, memory_batches - start))
            ]
            await asyncio.gather(*(engine.wait(b.id) for b in submitted))
        memory_seconds = time.perf_counter() - began
        after = _rss_mb()
    return EngineFigures(
        overhead_ms=batch_seconds / OVERHEAD_SLIDES * 1000,
        batch_seconds=batch_seconds,
        rss_before_mb=before,
        rss_after_mb=after,
        memory_seconds=memory_seconds,
        batches=memory_batches,
    )


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer batches")
    args = parser.parse_args()
    memory_batches = 100 if args.quick else MEMORY_BATCHES

    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        engine = asyncio.run(engine_figures(Path(tmp), memory_batches=memory_batches))
    growth = engine.rss_after_mb - engine.rss_before_mb

    rows = [
        (
            "engine+storage per slide (1,000-slide batch, SQLite)",
            f"{engine.overhead_ms:.2f} ms",
            "< 2 ms: " + ("met" if engine.overhead_ms < 2 else "MISSED"),
        ),
        ("  the whole 1,000-slide batch", f"{engine.batch_seconds:.2f} s", ""),
        (f"RSS before {engine.batches} finished batches", f"{engine.rss_before_mb:.1f} MB", ""),
        (f"RSS after {engine.batches} finished batches", f"{engine.rss_after_mb:.1f} MB", ""),
        (
            f"  growth ({engine.memory_seconds:.0f} s to run them)",
            f"{growth:+.1f} MB",
            "<= 50 MB: " + ("met" if growth <= 50 else "MISSED"),
        ),
    ]
    print(f"{'figure':<60} {'value':>12}  goal")
    print("-" * 90)
    for name, value, goal in rows:
        print(f"{name:<60} {value:>12}  {goal}".rstrip())


if __name__ == "__main__":
    main()
