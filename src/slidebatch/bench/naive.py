"""The naive baseline: the seed's approach, run against the same fake upstream.

Each batch gets a fixed pool of ``max_workers`` (an asyncio semaphore) and every slide is
retried exactly as the seed's guide does with tenacity (``stop_after_attempt(3)``,
``wait_exponential(min=4, max=10)``): 3 attempts, exponential wait 4-10 s (scaled like
everything else), any error retried, no gate shared between batches, no notion of the
upstream's window. A plain loop spells those waits out (``seed_wait``) so the figures can be
checked by hand. It calls the same OpenRouter adapter slidebatch uses, bounded by the same
one deadline per attempt (``within_deadline``), so the two differ only in scheduling.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from slidebatch.bench.scenarios import BatchSpec, Scenario, deck_body
from slidebatch.core.aspect import AspectRatio
from slidebatch.core.prompt import build_prompt
from slidebatch.core.slide import Slide, SlideType
from slidebatch.providers.base import ImageProvider, ImageRequest
from slidebatch.providers.openrouter import OpenRouterProvider
from slidebatch.scheduler.clock import SystemClock
from slidebatch.scheduler.deadline import within_deadline

_ASPECT = AspectRatio(16, 9)


@dataclass(frozen=True, slots=True)
class NaiveRun:
    """The baseline's outcome; ``makespan`` in wall seconds."""

    makespan: float
    slides: int
    successful: int


def _requests(spec: BatchSpec, tag: str) -> list[ImageRequest]:
    body = deck_body(spec, tag)
    out = []
    for item in body["slides"]:
        slide = Slide(
            id=item["id"],
            page_num=item["page_num"],
            type=SlideType(item["type"]),
            title=item["title"],
            content_text=item["content_text"],
            visual_desc=item["visual_desc"],
        )
        prompt = build_prompt(slide, body["style_prompt"], _ASPECT)
        out.append(ImageRequest(prompt, slide, body["style_prompt"], _ASPECT))
    return out


SEED_ATTEMPTS = 3


def seed_wait(failed_attempt: int, time_scale: float) -> float:
    """tenacity's ``wait_exponential(min=4, max=10)`` after attempt ``failed_attempt``, scaled."""
    return min(max(2.0 ** (failed_attempt - 1), 4.0), 10.0) * time_scale


async def _one_slide(
    provider: ImageProvider,
    request: ImageRequest,
    pool: asyncio.Semaphore,
    time_scale: float,
    attempt_timeout: float,
) -> bool:
    # The seed's retry loop, with its waits scaled: a slot is held while waiting to retry.
    async with pool:
        for attempt in range(1, SEED_ATTEMPTS + 1):
            try:
                await within_deadline(
                    provider.generate(request), clock=SystemClock(), seconds=attempt_timeout
                )
                return True
            except Exception:  # the seed's decorator retries anything
                if attempt == SEED_ATTEMPTS:
                    return False
                await asyncio.sleep(seed_wait(attempt, time_scale))
    return False


async def _run(
    base_url: str,
    api_key: str,
    scenario: Scenario,
    tag: str,
    time_scale: float,
    attempt_timeout: float,
) -> NaiveRun:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(timeout=attempt_timeout, limits=limits) as client:
        provider = OpenRouterProvider(
            client,
            api_key=api_key,
            base_url=base_url,
            model="google/gemini-3-pro-image-preview",
            timeout=attempt_timeout,
        )
        calls = []
        for index, spec in enumerate(scenario.batches):
            pool = asyncio.Semaphore(spec.naive_pool)
            for request in _requests(spec, f"{tag}-{index}"):
                calls.append(_one_slide(provider, request, pool, time_scale, attempt_timeout))
        started = time.perf_counter()
        results: Sequence[bool] = await asyncio.gather(*calls)
        makespan = time.perf_counter() - started
    return NaiveRun(makespan, len(results), sum(results))


def run_naive(
    base_url: str,
    api_key: str,
    scenario: Scenario,
    tag: str,
    *,
    time_scale: float,
    timeout: float,
) -> NaiveRun:
    """Run ``scenario`` the seed's way against the upstream at ``base_url``."""
    return asyncio.run(_run(base_url, api_key, scenario, tag, time_scale, timeout))
