"""A batch's spend in its status and in the list says when it holds an estimate (an image
reconciled from disk at the model's price) and how many drawn slides have no price."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from slidebatch.config import load_settings
from slidebatch.core.slide import BatchRequest, Slide, SlideType
from slidebatch.services import build_services
from slidebatch.storage.images import ImageStore
from slidebatch.storage.reconcile import reconcile_images
from slidebatch.testing.clock import FakeClock

PRICE = 0.05


async def test_an_estimated_image_among_unpriced_ones_is_marked_in_status_and_list(
    tmp_path: Path,
) -> None:
    """Slide 1 found on disk (priced at the model's 0.05, estimated), slide 2 drawn with no
    price reported, slide 3 not drawn: status and list say cost 0.05, cost_estimated, one
    cost unknown (they said a plain known 0.05)."""
    settings = load_settings(
        data_dir=tmp_path / "data", log_dir=tmp_path / "logs", image_provider="local"
    )
    slides = tuple(Slide(f"s{i}", i, SlideType.CONTENT, f"S{i}") for i in (1, 2, 3))
    deck = BatchRequest(slides, "navy")
    async with build_services(settings, clock=FakeClock(autojump=False)) as services:
        repo = services.database.batches
        batch, _ = await repo.create_batch(
            request=deck, final_prompts=["p"] * 3, effective_workers=1, owner=None,
            idempotency_key=None,
        )  # fmt: skip
        started = batch.created_at - timedelta(minutes=1)
        await repo.mark_generating(batch.id, 0, attempt=1, at=started)
        ImageStore(settings.images_dir).write(batch.id, 0, 1, b"image one")
        [found] = await reconcile_images(repo, ImageStore(settings.images_dir), price=PRICE)
        assert found.estimated
        await repo.mark_generating(batch.id, 1, attempt=1, at=started)
        await repo.mark_done(
            batch.id, 1, image_file="p2.png", generation_time=1.0, cost=None,
            placeholder=False, at=batch.created_at,
        )  # fmt: skip
        status = await services.engine.read.status(batch.id)
        page = await services.engine.read.page(owner=None, limit=5, offset=0)
    for answer in (status, page.items[0]):
        assert (answer.cost, answer.cost_estimated, answer.costs_unknown) == (PRICE, True, 1)
