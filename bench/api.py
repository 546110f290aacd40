"""The service's own overheads: status throughput, per-slide engine cost, memory over time.

    PYTHONPATH=src python bench/api.py [--quick]

1. Status requests per second and p99 latency while 20 batches run: a real ``slidebatch
   serve`` subprocess with the local renderer slowed by LOCAL_RENDER_DELAY_SECONDS (so the
   batches stay running), 20 batches submitted with ``?wait=false``, then an httpx load loop
   of concurrent clients calling the seed's ``POST /api/slide/batch/status``.
2. Per-slide overhead of engine plus storage: services built in-process with an instant
   provider (a cached tiny PNG), one 1,000-slide batch timed from submit to finished, / 1000.
   Goal: under 2 ms per slide on SQLite.
3. Resident memory before and after 1,000 finished batches (same in-process services).
   Goal: within 50 MB.

The load generator shares the machine (2 cores here) with the server, so figure 1 is a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import os
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]
from PIL import Image

from slidebatch.bench.scenarios import BatchSpec, deck_body
from slidebatch.config import load_settings
from slidebatch.core.aspect import AspectRatio
from slidebatch.core.slide import BatchRequest, Slide, SlideType
from slidebatch.providers.base import ImageRequest, ImageResult
from slidebatch.services import build_services
from slidebatch.testing.serve_process import free_port, start_serve, stop_serve

SRC = Path(__file__).resolve().parents[1] / "src"
STATUS_BATCHES = 20
MEMORY_BATCHES = 1000
OVERHEAD_SLIDES = 1000


# ----------------------------------------------------------------------------- 1. status load


@dataclass(frozen=True, slots=True)
class LoadFigures:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    running: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def _start_server(root: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env |= {
        "PYTHONPATH": str(SRC),
        "IMAGE_PROVIDER": "local",
        "LOCAL_RENDER_DELAY_SECONDS": "30",
        "LOCAL_RENDER_LONG_SIDE": "320",
        "BATCH_MAX_CONCURRENT": str(STATUS_BATCHES),
        "DATA_DIR": str(root / "data"),
        "LOG_DIR": str(root / "logs"),
    }
    return start_serve(port=port, env=env, cwd=root, timeout=60)


async def _load(base: str, ids: list[str], *, clients: int, seconds: float) -> LoadFigures:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:

        async def worker(offset: int, stop: float) -> None:
            nonlocal errors
            index = offset
            while time.perf_counter() < stop:
                batch_id = ids[index % len(ids)]
                index += 1
                began = time.perf_counter()
                response = await http.post("/api/slide/batch/status", json={"batch_id": batch_id})
                latencies.append(time.perf_counter() - began)
                if response.status_code != 200:
                    errors += 1

        # A short warm-up (connections, caches), then the measured stretch.
        warm_stop = time.perf_counter() + 1.0
        await asyncio.gather(*(worker(i, warm_stop) for i in range(clients)))
        latencies.clear()
        errors = 0
        began = time.perf_counter()
        stop = began + seconds
        await asyncio.gather(*(worker(i, stop) for i in range(clients)))
        elapsed = time.perf_counter() - began
        active = (await http.get("/api/slide/batch/active-count")).json()
    ordered = sorted(latencies)
    return LoadFigures(
        requests=len(ordered),
        seconds=elapsed,
        p50_ms=statistics.median(ordered) * 1000,
        p99_ms=ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000,
        errors=errors,
        running=int(active["running_batches"]),
    )


def status_load(*, clients: int, seconds: float) -> LoadFigures:
    """Figure 1: status requests per second and p99 with 20 batches running."""
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        port = free_port()
        process = _start_server(Path(tmp), port)
        base = f"http://127.0.0.1:{port}"
        try:
            ids = []
            with httpx.Client(base_url=base, timeout=30) as http:
                for number in range(STATUS_BATCHES):
                    body = deck_body(BatchSpec(10), f"load{number}")
                    response = http.post(
                        "/api/slide/batch/generate", params={"wait": "false"}, json=body
                    )
                    response.raise_for_status()
                    ids.append(str(response.json()["batch_id"]))
            return asyncio.run(_load(base, ids, clients=clients, seconds=seconds))
        finally:
            stop_serve(process)


# ----------------------------------------------------------------------------- 2 and 3: in-process


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
    parser.add_argument("--quick", action="store_true", help="shorter load, fewer batches")
    parser.add_argument("--clients", type=int, default=16, help="concurrent status clients")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured load duration")
    args = parser.parse_args()
    seconds = 3.0 if args.quick else args.seconds
    memory_batches = 100 if args.quick else MEMORY_BATCHES

    load = status_load(clients=args.clients, seconds=seconds)
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        engine = asyncio.run(engine_figures(Path(tmp), memory_batches=memory_batches))
    growth = engine.rss_after_mb - engine.rss_before_mb

    rows = [
        (
            f"status requests/s ({load.running} batches running, {args.clients} clients)",
            f"{load.per_second:.0f}/s",
            "",
        ),
        ("status latency p50", f"{load.p50_ms:.1f} ms", ""),
        ("status latency p99", f"{load.p99_ms:.1f} ms", ""),
        (f"status answers other than 200, of {load.requests}", str(load.errors), ""),
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
