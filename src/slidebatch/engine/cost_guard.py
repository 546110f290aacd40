"""``max_cost``: a batch stops starting images before its spend would pass the cap.

A watcher beside the engine (not inside it): it follows the batch's slide events, counts
what was paid (the provider's ``usage.cost`` of every paid image, replaced ones and
candidates too: each slide's ``spent``) and the dearest price an image of the batch cost.

It gates the dispatcher's starts of the batch (``BatchEngine.gate_starts``): a slide starts
only while the images running, its own included, fit in what ``core.cost``'s
``images_in_flight_allowed`` lets be in flight. The gate reads the watch, which hears each
event as it is published (``EventBus.tap``), and a gated batch's paid image holds its slot
until its cost is stored (``Dispatcher.gate_batch``): so the next start is decided with the
cost of every image that came back. While none of the batch's images reported a cost and the
price is not measured (configured or unknown), one image starts alone (the probe); its cost
prices the rest at the dearer of it and the unit price. Until the guard has read its batch,
nothing starts.

When no more image may start and none in flight can change that, it cancels the pending
slides (``stop_reason`` max_cost; the dispatcher holds them first, ``stop_starting``, no
await in between). With nothing pending it cancels nothing: the batch ends as its slides do.

The bound (README, max_cost): the spend passes ``max_cost`` by at most what the images in flight
at a decision cost above the price they were counted at: with no price known, the probe's
whole cost; later, the in-flight images times how much dearer they came back than the dearest
seen before.
"""

from __future__ import annotations

from slidebatch.core.cost import UnitCost, cap_reached, images_in_flight_allowed, spent
from slidebatch.core.states import SlideState
from slidebatch.engine.answers import BatchStatus, SlideAnswer, SlideEvent
from slidebatch.engine.batch_engine import BatchEngine
from slidebatch.observability.pipeline_log import EventLog


class CostWatch:
    """The spend, the prices and the images in flight of one batch, as its events tell them."""

    def __init__(self, max_cost: float, unit: UnitCost) -> None:
        self.max_cost = max_cost
        self.unit = unit
        self.costs: dict[str, float] = {}  # slide id -> USD of its dearest image
        self.spends: dict[str, float] = {}  # slide id -> USD of all its paid images
        self.in_flight: set[str] = set()
        self.waiting: set[str] = set()  # pending slides
        self.ready = False  # the batch was read: the gate may let slides start

    def see(self, slide: SlideAnswer) -> None:
        """One slide's answer; a snapshot and events may come in either order, so what was
        paid only grows (a slide's ``spent`` never shrinks) and a price is the dearest seen."""
        for states, ids in (
            ((SlideState.GENERATING,), self.in_flight),
            ((SlideState.PENDING,), self.waiting),
        ):
            if slide.state in states:
                ids.add(slide.slide_id)
            else:
                ids.discard(slide.slide_id)
        if slide.cost is not None:
            self.costs[slide.slide_id] = max(slide.cost, self.costs.get(slide.slide_id, 0.0))
        if slide.spent is not None:
            self.spends[slide.slide_id] = max(slide.spent, self.spends.get(slide.slide_id, 0.0))

    def hear(self, data: SlideEvent | BatchStatus) -> None:
        """An event as it is published (``EventBus.tap``)."""
        if isinstance(data, SlideEvent):
            self.see(data.slide)

    @property
    def spent(self) -> float:
        return spent(self.spends.values()) or 0.0

    def allowed(self) -> int | None:
        """How many images may be in flight at once now (None: no limit)."""
        return images_in_flight_allowed(
            self.max_cost, self.spends.values(), self.costs.values(), self.unit
        )

    def may_start(self, running: int) -> bool:
        """The dispatcher's gate: one more with ``running`` images not yet recorded."""
        if not self.ready:
            return False
        allowed = self.allowed()
        return allowed is None or running < allowed

    def must_stop(self) -> bool:
        """No image may start now and none in flight can change that."""
        return cap_reached(
            self.max_cost,
            self.spends.values(),
            self.costs.values(),
            len(self.in_flight),
            self.unit,
        )


def gate_cost(engine: BatchEngine, batch_id: str, max_cost: float, unit: UnitCost) -> CostWatch:
    """The watch of ``batch_id``, gating its starts from now on (nothing starts until
    ``guard_cost`` has read the batch)."""
    watch = CostWatch(max_cost, unit)
    engine.gate_starts(batch_id, watch.may_start)
    return watch


async def guard_cost(engine: BatchEngine, batch_id: str, watch: CostWatch, log: EventLog) -> None:
    """Follow ``batch_id`` until it ends; cancel its pending slides when the cap is reached."""
    try:
        with engine.events.tap(batch_id, watch.hear):
            async with engine.events.subscribe(batch_id) as stream:
                status = await engine.read.status(batch_id)
                for slide in status.results or ():
                    watch.see(slide)
                watch.ready = True
                engine.starts_changed()
                if status.status.is_final or await _decide(engine, batch_id, watch, log):
                    return
                async for event in stream:
                    data = event.data
                    if not isinstance(data, SlideEvent):
                        if data.status.is_final:
                            return
                        continue
                    if await _decide(engine, batch_id, watch, log):
                        return
    finally:
        engine.gate_starts(batch_id, None)


async def _decide(engine: BatchEngine, batch_id: str, watch: CostWatch, log: EventLog) -> bool:
    """Stop the batch when its cap is reached with slides pending; True when stopped."""
    if watch.must_stop() and watch.waiting:
        await _stop(engine, batch_id, watch, log)
        return True
    # A gate's answer follows the events it hears; the dispatcher looks again.
    engine.starts_changed()
    return False


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
