"""The bench's runs: the seed's experiment, a large deck, many batches at once, fairness.

Each scenario is a set of batches submitted together. ``wait=True`` uses the seed's
synchronous ``generate`` (one batch per scenario); ``wait=False`` submits every batch with
``?wait=false`` back to back, in order, and follows them until all are final.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The seed's BATCH_DEFAULT_WORKERS: the naive baseline's pool when a request names none.
SEED_DEFAULT_WORKERS = 5


@dataclass(frozen=True, slots=True)
class BatchSpec:
    """One batch of a scenario."""

    slides: int
    max_workers: int | None = None  # None: left out of the request

    @property
    def naive_pool(self) -> int:
        """The fixed pool the seed's approach would use for this batch."""
        return self.max_workers if self.max_workers is not None else SEED_DEFAULT_WORKERS


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named set of batches submitted together."""

    name: str
    batches: tuple[BatchSpec, ...]
    wait: bool = True
    fairness: bool = False  # the last batch is small and must finish first

    @property
    def slides(self) -> int:
        return sum(batch.slides for batch in self.batches)

    def bound_cap(self, in_flight_cap: int) -> int | None:
        """The worker cap the bound honours for slidebatch: per-batch caps, the global one."""
        caps = [b.max_workers if b.max_workers is not None else in_flight_cap for b in self.batches]
        return min(sum(caps), in_flight_cap)

    def naive_cap(self) -> int:
        """The baseline's worker cap: the sum of its fixed pools."""
        return sum(batch.naive_pool for batch in self.batches)


def scenarios(*, quick: bool) -> tuple[Scenario, ...]:
    """The runs of the bench (fewer and smaller with ``quick``)."""
    if quick:
        return (
            Scenario("seed 5 slides, max_workers=5", (BatchSpec(5, 5),)),
            Scenario("deck 25 slides, workers auto", (BatchSpec(25),)),
            Scenario("3 batches x 8 slides together", (BatchSpec(8),) * 3, wait=False),
            Scenario(
                "fairness: 45 then 3 slides",
                (BatchSpec(45), BatchSpec(3)),
                wait=False,
                fairness=True,
            ),
        )
    return (
        Scenario("seed 5 slides, max_workers=2", (BatchSpec(5, 2),)),
        Scenario("seed 5 slides, max_workers=5", (BatchSpec(5, 5),)),
        Scenario("seed 5 slides, max_workers=10", (BatchSpec(5, 10),)),
        Scenario("deck 50 slides, workers auto", (BatchSpec(50),)),
        Scenario("8 batches x 15 slides together", (BatchSpec(15),) * 8, wait=False),
        Scenario(
            "fairness: 50 then 3 slides", (BatchSpec(50), BatchSpec(3)), wait=False, fairness=True
        ),
    )


def fault_scenario(*, quick: bool) -> Scenario:
    """The fault-mix run: one batch, workers auto."""
    return Scenario(f"fault mix, {20 if quick else 50} slides", (BatchSpec(20 if quick else 50),))


def deck_body(spec: BatchSpec, tag: str) -> dict[str, Any]:
    """The seed's request body for ``spec``; ``tag`` keeps slide texts distinct between runs."""
    slides = []
    for page in range(1, spec.slides + 1):
        kind = "cover" if page == 1 else "ending" if page == spec.slides else "content"
        slides.append(
            {
                "id": f"{tag}-{page}",
                "page_num": page,
                "type": kind,
                "title": f"Bench {tag} slide {page}",
                "content_text": f"Point {page}: throughput under a shared rate limit.",
                "visual_desc": "a clean chart on a light background",
            }
        )
    body: dict[str, Any] = {
        "slides": slides,
        "style_prompt": "flat corporate style, blue accents",
        "aspect_ratio": "16:9",
    }
    if spec.max_workers is not None:
        body["max_workers"] = spec.max_workers
    return body
