"""Images reconciled from disk after a crash are paid for: their cost is recorded, at the
provider's reported figure when it was kept beside the image, else the model's price
marked as an estimate."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from storage_helpers import deck

from slidebatch.storage.database import Database
from slidebatch.storage.images import ImageStore
from slidebatch.storage.keys import UsageRepository
from slidebatch.storage.reconcile import reconcile_images

PRICE = 0.2  # the model's price (measured or configured)


async def test_a_reconciled_image_records_its_reported_cost_else_the_price_as_estimated(
    db: Database, tmp_path: Path
) -> None:
    """Slide 0's image kept its reported 0.134: recorded as is. Slide 1's image has no kept
    cost: recorded at the model's price, marked estimated. Both count in the batch's
    spend and the key's daily spend; slide 2 (no image on disk) stays unfinished."""
    images = ImageStore(tmp_path / "images")
    batch, _ = await db.batches.create_batch(
        request=deck(3),
        final_prompts=["p"] * 3,
        effective_workers=3,
        owner="k1",
        idempotency_key=None,
    )
    started = batch.created_at - timedelta(minutes=1)  # the files' mtimes are after it
    for key in range(3):
        await db.batches.mark_generating(batch.id, key, attempt=1, at=started)
    images.write(batch.id, 0, 1, b"image zero", cost=0.134)
    images.write(batch.id, 1, 2, b"image one")  # the answer's cost was lost with it
    found = await reconcile_images(db.batches, images, price=PRICE)
    assert sorted((r.slide.key, r.cost, r.estimated) for r in found) == [
        (0, 0.134, False),
        (1, PRICE, True),
    ]
    slides = await db.batches.get_slides(batch.id)
    assert [(s.cost, s.spent, s.cost_estimated) for s in slides[:2]] == [
        (0.134, pytest.approx(0.134), False),
        (PRICE, pytest.approx(PRICE), True),
    ]
    assert slides[2].image_file is None
    usage = UsageRepository.on(db)
    assert await usage.batch_costs([batch.id]) == {batch.id: pytest.approx(0.134 + PRICE)}
    assert await usage.spend_since("k1", started) == pytest.approx(0.134 + PRICE)


async def test_with_no_price_known_a_reconciled_image_has_no_cost(
    db: Database, tmp_path: Path
) -> None:
    """No reported cost kept and no price known: the cost stays unknown (null), not 0."""
    images = ImageStore(tmp_path / "images")
    batch, _ = await db.batches.create_batch(
        request=deck(1),
        final_prompts=["p"],
        effective_workers=1,
        owner="k1",
        idempotency_key=None,
    )
    await db.batches.mark_generating(
        batch.id, 0, attempt=1, at=batch.created_at - timedelta(minutes=1)
    )
    images.write(batch.id, 0, 1, b"image")
    [found] = await reconcile_images(db.batches, images, price=None)
    slide = await db.batches.get_slide(batch.id, 0)
    assert (found.cost, found.estimated) == (None, False)
    assert (slide.cost, slide.spent, slide.cost_estimated) == (None, None, False)
