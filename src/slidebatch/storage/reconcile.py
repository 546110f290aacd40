"""Start-up reconciliation: a slide whose image is on disk is never paid for again.

An attempt's image is written (atomically) before its ``done`` state is stored. A crash or a
database outage between the two leaves a paid image on disk and the slide ``generating``;
without this, the restart would ask the upstream for it again. Before the engine resumes
anything, each slide whose last attempt started but did not finish is looked up on disk: an
image of that attempt (written at or after the attempt started) makes the slide ``done``.

The image was paid for, so it is also counted: at the cost the provider reported, kept beside
the image (``ImageStore.write``), else at the model's price, marked as an estimate
(``cost_estimated``); with neither known the cost stays unknown.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from slidebatch.core.batch import SlideRecord
from slidebatch.errors import NotFound
from slidebatch.storage.images import ImageStore
from slidebatch.storage.repository import BatchRepository


@dataclass(frozen=True, slots=True)
class Reconciled:
    """A slide recorded as done from the image found on disk."""

    slide: SlideRecord
    image_file: str
    generation_time: float
    cost: float | None = None
    estimated: bool = False


async def reconcile_images(
    repo: BatchRepository, images: ImageStore, *, price: float | None = None
) -> list[Reconciled]:
    """Mark done every unfinished slide whose current attempt's image is on disk.

    ``price``: USD per image of the model (measured or configured; None: unknown), the
    estimate for an image whose reported cost was not kept.
    """
    reconciled = []
    for slide in await repo.slides_in_flight():
        assert slide.started_at is not None  # slides_in_flight selects started ones only
        started = slide.started_at.timestamp()
        found = await asyncio.to_thread(images.written_since, slide.batch_id, slide.key, started)
        if found is None:
            continue
        image_file, mtime = found
        generation_time = round(max(0.0, mtime - started), 3)
        reported = await asyncio.to_thread(images.reported_cost, slide.batch_id, image_file)
        estimated = reported is None and price is not None
        cost = reported if reported is not None else price
        try:
            await repo.mark_done(
                slide.batch_id,
                slide.key,
                image_file=image_file,
                generation_time=generation_time,
                cost=cost,
                placeholder=False,
                at=datetime.fromtimestamp(mtime, UTC),  # when it was paid: the daily spend
                estimated=estimated,
            )
        except NotFound:
            continue
        reconciled.append(Reconciled(slide, image_file, generation_time, cost, estimated))
    return reconciled
