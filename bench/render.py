"""Local renderer speed: median ms per 1920x1080 slide on one core, and slides/s on two.

Every deck under ``examples/`` is drawn (wall time and CPU time per slide).

Run from the repository root: ``python bench/render.py`` (uses ``src/`` when not installed).
"""

from __future__ import annotations

import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from slidebatch.core.aspect import AspectRatio  # noqa: E402
from slidebatch.core.deck import DeckInput, parse_deck  # noqa: E402
from slidebatch.core.slide import Slide  # noqa: E402
from slidebatch.render import render_slide  # noqa: E402

WIDE = AspectRatio(16, 9)
ROUNDS = 8
WORKERS = 2


def _decks() -> list[DeckInput]:
    files = sorted((ROOT / "examples").glob("*.json"))
    return [parse_deck(f.read_text("utf-8"), source=f.name) for f in files]


def _jobs() -> list[tuple[Slide, str]]:
    return [(slide, deck.style_prompt or "") for deck in _decks() for slide in deck.slides]


def _render(job: tuple[Slide, str]) -> int:
    slide, style = job
    return len(render_slide(slide, style, WIDE, long_side=1920))


def one_core(jobs: list[tuple[Slide, str]]) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds per slide, fonts warm (first pass discarded).

    CPU time (this process only) is the figure to read on a shared, busy machine.
    """
    for job in jobs:
        _render(job)
    wall, cpu = [], []
    for _ in range(ROUNDS):
        for job in jobs:
            started, started_cpu = time.perf_counter(), time.process_time()
            _render(job)
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
    return wall, cpu


def two_cores(jobs: list[tuple[Slide, str]]) -> float:
    """Slides per second with ``WORKERS`` processes busy."""
    with ProcessPoolExecutor(max_workers=WORKERS) as pool:
        list(pool.map(_render, jobs * WORKERS))  # warm each worker's font cache
        batch = jobs * ROUNDS
        started = time.perf_counter()
        list(pool.map(_render, batch, chunksize=2))
        return len(batch) / (time.perf_counter() - started)


def main() -> None:
    jobs = _jobs()
    timings, cpu = one_core(jobs)
    print(f"slides: {len(jobs)} from examples/*.json, 1920x1080, {ROUNDS} rounds")
    print(f"one core: median {statistics.median(timings):.1f} ms/slide", end="")
    print(f" (p90 {statistics.quantiles(timings, n=10)[-1]:.1f} ms, max {max(timings):.1f} ms)")
    print(f"one core, CPU time: median {statistics.median(cpu):.1f} ms/slide", end="")
    print(f" (p90 {statistics.quantiles(cpu, n=10)[-1]:.1f} ms, max {max(cpu):.1f} ms)")
    print(f"{WORKERS} processes: {two_cores(jobs):.1f} slides/s")


if __name__ == "__main__":
    main()
