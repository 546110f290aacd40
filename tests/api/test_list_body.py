"""List bodies: each listed batch encoded once per distinct answer."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from slidebatch.api.list_body import ListBodies
from slidebatch.api.schemas import BatchListOut
from slidebatch.core.aspect import AspectRatio
from slidebatch.core.batch import BatchRecord
from slidebatch.core.cost import CostSource, UnitCost
from slidebatch.core.states import BatchState, SlideState
from slidebatch.engine.answers import BatchPage, BatchStatus

T0 = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)
UNIT = UnitCost(0.5, CostSource.CONFIGURED)


def _answer(n: int, state: BatchState = BatchState.COMPLETED, pending: int = 0) -> BatchStatus:
    batch = BatchRecord(
        id=f"{n:032x}", state=state, style_prompt="s", aspect_ratio=AspectRatio(16, 9),
        requested_workers=None, effective_workers=4, total_slides=3,
        created_at=T0 + timedelta(minutes=n), finished_at=T0 + timedelta(minutes=n, seconds=9),
    )  # fmt: skip
    counts = dict.fromkeys(SlideState, 0) | {SlideState.DONE: 2 - pending, SlideState.ERROR: 1}
    counts[SlideState.PENDING] = pending
    return BatchStatus.of(batch, counts, cost=0.25 * n)


def test_the_list_body_is_the_models_json() -> None:
    """The bytes say what BatchListOut would (every field, null where null)."""
    page = BatchPage((_answer(1), _answer(2, BatchState.RUNNING)), total=7, limit=2, offset=0)
    body = json.loads(ListBodies().response(page, UNIT).body)
    expected = BatchListOut.of(page).model_dump(mode="json")
    for item in expected["items"]:
        item["estimated_cost"] = item["cost"]  # every slide ended: nothing more to pay
    assert body == expected
    assert body["items"][0]["cost"] == 0.25


def test_a_listed_batch_has_the_estimate_its_status_has() -> None:
    """A running batch with 2 slides to go: its spend plus 2 images at the unit price, as
    its status answers (the list said null)."""
    page = BatchPage((_answer(1, BatchState.RUNNING, pending=2),), total=1, limit=1, offset=0)
    (item,) = json.loads(ListBodies().response(page, UNIT).body)["items"]
    assert item["estimated_cost"] == 0.25 + 2 * 0.5
    unknown = UnitCost(None, CostSource.UNKNOWN)
    (item,) = json.loads(ListBodies().response(page, unknown).body)["items"]
    assert item["estimated_cost"] is None


def test_an_unchanged_answer_is_not_encoded_again() -> None:
    """A second list of the same 3 batches, one of them changed, encodes that one alone."""
    bodies = ListBodies()
    answers = (_answer(1), _answer(2), _answer(3))
    bodies.response(BatchPage(answers, total=3, limit=3, offset=0), UNIT)
    assert bodies.encoded == 3
    moved = replace(answers[1], cost=9.0)
    page = BatchPage((answers[0], moved, answers[2]), total=3, limit=3, offset=0)
    again = bodies.response(page, UNIT)
    assert bodies.encoded == 4
    assert [item["cost"] for item in json.loads(again.body)["items"]] == [0.25, 9.0, 0.75]
