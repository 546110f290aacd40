"""Which input images each slide's request carries: the batch's references, and the cover.

A running batch's look is read from storage when it starts (after a restart too). In anchor
mode the cover (the first cover slide, else the first slide: ``core/slide.anchor_key``,
stored with the batch) goes alone first; the other
pending slides are held until it ends, then go out with the cover's image added to their
references. A cover that failed releases them without it (the batch's own references still
go). A cover already drawn (a resumed batch) is read from disk.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from slidebatch.core.batch import SlideRecord
from slidebatch.core.look import Look
from slidebatch.core.states import SlideState
from slidebatch.storage.images import ImageStore
from slidebatch.storage.repository import BatchRepository


@dataclass(slots=True)
class _Running:
    look: Look
    anchor_key: int | None = None
    cover: bytes | None = None
    held: list[SlideRecord] = field(default_factory=list)


async def cover_image(
    images: ImageStore | None, batch_id: str, anchor: SlideRecord
) -> bytes | None:
    """The anchoring slide's image as other slides' reference: None while it has none of
    its own (not done, a placeholder, a file that cannot be read)."""
    if anchor.state is not SlideState.DONE or anchor.image_file is None or anchor.placeholder:
        return None
    if images is None:
        return None
    path = images.path(batch_id, anchor.image_file)
    try:
        return await asyncio.to_thread(path.read_bytes)
    except OSError:
        return None


class Looks:
    """The looks of the running batches and the slides anchor mode holds back."""

    def __init__(self, repo: BatchRepository, images: ImageStore | None) -> None:
        self._repo = repo
        self._images = images
        self._running: dict[str, _Running] = {}

    async def start(
        self, batch_id: str, slides: Sequence[SlideRecord], look: Look
    ) -> list[SlideRecord]:
        """Keep the batch's ``look`` (as stored); of its pending ``slides``, those to dispatch
        now."""
        pending = [s for s in slides if s.state is SlideState.PENDING]
        running = _Running(look)
        self._running[batch_id] = running
        anchor = next((s for s in slides if s.key == look.anchor_key), None)
        if anchor is None:
            return pending
        running.anchor_key = anchor.key
        if anchor.state is SlideState.PENDING:
            running.held = [s for s in pending if s.key != anchor.key]
            return [anchor]
        running.cover = await cover_image(self._images, batch_id, anchor)
        return pending

    def references(self, batch_id: str, key: int) -> tuple[bytes, ...]:
        """The input images of slide ``key``'s request."""
        running = self._running.get(batch_id)
        if running is None:
            return ()
        images = running.look.images
        if running.cover is not None and key != running.anchor_key:
            images += (running.cover,)
        return images

    def holding(self, batch_id: str) -> bool:
        running = self._running.get(batch_id)
        return running is not None and bool(running.held)

    async def release(self, batch_id: str) -> list[SlideRecord]:
        """The held slides once the cover has ended (with its image now in their requests)."""
        running = self._running.get(batch_id)
        if running is None or not running.held or running.anchor_key is None:
            return []
        anchor = await self._repo.get_slide(batch_id, running.anchor_key)
        if not anchor.state.is_final:
            return []
        running.cover = await cover_image(self._images, batch_id, anchor)
        held, running.held = running.held, []
        return held

    def drop_held(self, batch_id: str) -> list[SlideRecord]:
        """Forget the held slides (the batch is cancelled); returns them."""
        running = self._running.get(batch_id)
        if running is None:
            return []
        held, running.held = running.held, []
        return held

    def forget(self, batch_id: str) -> None:
        self._running.pop(batch_id, None)
