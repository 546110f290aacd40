"""Which batch a ``slidebatch generate`` run works on: a new one, or the one it left unfinished.

A run is identified by its output folder and its deck's fingerprint (``core/fingerprint``).
Re-running the same deck into the same folder continues that folder's newest batch of the
deck, paying only for the slides that are not done: an interrupted batch resumes, a finished
one with failures retries only those, a completed one pays nothing. ``--fresh`` starts over.
Other unfinished batches of the same folder are superseded (cancelled): their images would
land in the folder this run writes. Batches of other folders are never touched.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from slidebatch.config import Settings
from slidebatch.core.batch import BatchOrigin, BatchRecord
from slidebatch.core.cost import spent
from slidebatch.core.fingerprint import deck_fingerprint
from slidebatch.core.slide import BatchRequest
from slidebatch.core.states import BatchState, SlideState
from slidebatch.services import Services, model_name


class Start(StrEnum):
    NEW = "new"  # nothing to continue (or --fresh)
    RESUMED = "resumed"  # an interrupted batch continues
    RETRIED = "retried"  # a finished batch's failed slides run again
    COMPLETE = "complete"  # every slide is already done: nothing to pay


@dataclass(frozen=True, slots=True)
class Started:
    batch: BatchRecord
    how: Start
    superseded: tuple[str, ...] = ()


def output_key(folder: Path) -> str:
    """A fixed-size key for an output folder: the hex SHA-256 of its absolute path."""
    return hashlib.sha256(str(folder.resolve()).encode("utf-8")).hexdigest()


def provider_identity(settings: Settings, provider: str) -> str:
    """The provider and what of its settings changes the images, as one string."""
    if provider == "local":
        return f"local:{settings.local_render_long_side}"
    return f"{provider}:{model_name(settings)}:{settings.llm_image_size}"


def origin_of(services: Services, request: BatchRequest, out_dir: Path) -> BatchOrigin:
    provider = provider_identity(services.settings, services.provider.name)
    return BatchOrigin(output_key(out_dir), deck_fingerprint(request, provider=provider))


@dataclass(frozen=True, slots=True)
class Plan:
    """What a run will do before it does it: the slides it draws (and pays for)."""

    to_draw: int
    continued: BatchRecord | None = None  # the batch it continues, if any
    spent: float | None = None  # what that batch paid already (USD; None: nothing known)


async def plan(services: Services, request: BatchRequest, out_dir: Path, *, fresh: bool) -> Plan:
    """The slides a run of ``request`` into ``out_dir`` would draw: all of a new batch; of a
    continued one those not drawn yet (a batch that ended: those not done)."""
    match = None if fresh else await _match(services, request, out_dir)
    if match is None:
        return Plan(len(request.slides))
    _, slides = await services.engine.read.records(match.id)
    if match.state.is_final:
        to_draw = sum(1 for s in slides if s.state is not SlideState.DONE)
    else:
        to_draw = sum(1 for s in slides if not s.state.is_final)
    return Plan(to_draw, match, spent(s.spent for s in slides))


async def _match(services: Services, request: BatchRequest, out_dir: Path) -> BatchRecord | None:
    origin = origin_of(services, request, out_dir)
    earlier = await services.database.batches.batches_for_output(origin.output_key)
    return next((b for b in earlier if b.origin == origin), None)


async def start_or_resume(
    services: Services, request: BatchRequest, out_dir: Path, *, fresh: bool
) -> Started:
    """Submit ``request`` for ``out_dir``, or continue the batch an earlier run left there.

    A continued batch keeps its stored ``max_cost`` unless ``request`` gives one.
    """
    engine = services.engine
    origin = origin_of(services, request, out_dir)
    earlier = await services.database.batches.batches_for_output(origin.output_key)
    match = None if fresh else next((b for b in earlier if b.origin == origin), None)
    superseded = []
    for batch in earlier:
        if batch.id != (match.id if match else None) and not batch.state.is_final:
            await engine.cancel(batch.id)
            superseded.append(batch.id)
    if match is None:
        batch, _ = await engine.submit(request, origin=origin)
        return Started(batch, Start.NEW, tuple(superseded))
    if request.max_cost is not None and request.max_cost != match.max_cost:
        # A cap given again replaces the stored one before the batch starts (and is checked).
        await services.database.batches.set_max_cost(match.id, request.max_cost)
    batch = await engine.resume(match.id)
    if batch.state is BatchState.COMPLETED:
        return Started(batch, Start.COMPLETE, tuple(superseded))
    if batch.state.is_final:
        await engine.retry_failed(batch.id)
        return Started(await engine.resume(batch.id), Start.RETRIED, tuple(superseded))
    return Started(batch, Start.RESUMED, tuple(superseded))
