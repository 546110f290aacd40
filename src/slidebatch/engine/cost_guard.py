"""``max_cost``: a batch stops starting images before its spend would pass the cap.

A watcher beside the engine (not inside it): it follows the batch's slide events, counts
what was paid (the provider's ``usage.cost`` of every paid image, replaced ones and
candidates too: each slide's ``spent``) and what is in flight at the unit price, and
cancels the pending slides as soon as one more image would not fit. The dispatcher stops
starting the batch's slides at the decision itself (``BatchEngine.stop_starting``, no await
in between); the cancel that follows records it. Images already in flight finish; they were
counted when the decision was made.

What it cannot see: a slide the dispatcher has taken but whose start is not yet stored and
published (its ``generating`` event is in transit) is not counted by the decision. With one
worker that needs the guard to lag a whole image behind; with more, up to the batch's
workers can be in that gap at once.
"""

from __future__ import annotations

from slidebatch.core.cost import UnitCost, room_for_next, spent
from slidebatch.core.states import SlideState
from slidebatch.engine.answers import SlideAnswer, SlideEvent
from slidebatch.engine.batch_engine import BatchEngine
from slidebatch.observability.pipeline_log import EventLog


class CostWatch:
    """The spend and the images in flight of one batch, as its events tell them."""

    def __init__(self, max_cost: float, unit: UnitCost) -> None:
        self.max_cost = max_cost
        self.unit = unit
        self.costs: dict[str, float] = {}  # slide id -> USD of its latest image
        self.spends: dict[str, float] = {}  # slide id -> USD of all its paid images
        self.in_flight: set[str] = set()

    def see(self, slide: SlideAnswer) -> None:
        if slide.state is SlideState.GENERATING:
            self.in_flight.add(slide.slide_id)
        else:
            self.in_flight.discard(slide.slide_id)
        if slide.cost is not None:
            self.costs[slide.slide_id] = slide.cost
        if slide.spent is not None:
            self.spends[slide.slide_id] = slide.spent

    @property
    def spent(self) -> float:
        return spent(self.spends.values()) or 0.0

    def room_for_one_more(self) -> bool:
        return room_for_next(
            self.max_cost,
            self.spends.values(),
            self.costs.values(),
            len(self.in_flight),
            self.unit,
        )


async def guard_cost(
    engine: BatchEngine, batch_id: str, max_cost: float, unit: UnitCost, log: EventLog
) -> None:
    """Follow ``batch_id`` until it ends; cancel its pending slides when the cap is reached."""
    watch = CostWatch(max_cost, unit)
    async with engine.events.subscribe(batch_id) as stream:
        status = await engine.read.status(batch_id)
        for slide in status.results or ():
            watch.see(slide)
        if status.status.is_final:
            return
        if not watch.room_for_one_more():
            await _stop(engine, batch_id, watch, log)
            return
        async for event in stream:
            data = event.data
            if not isinstance(data, SlideEvent):
                if data.status.is_final:
                    return
                continue
            watch.see(data.slide)
            if not watch.room_for_one_more():
                await _stop(engine, batch_id, watch, log)
                return


async def _stop(engine: BatchEngine, batch_id: str, watch: CostWatch, log: EventLog) -> None:
    # At once: the cancel first waits for the runs lock and the database, and a queued slide
    # started meanwhile would be paid past the cap.
    engine.stop_starting(batch_id)
    log.event(
        "batch_max_cost_reached",
        batch_id=batch_id,
        details={
            "max_cost": watch.max_cost,
            "spent": watch.spent,
            "in_flight": len(watch.in_flight),
            "unit_cost": watch.unit.per_image,
        },
    )
    await engine.cancel(batch_id, reason="max_cost")
