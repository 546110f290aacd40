"""Status bodies: the cached slide list, re-encoded only where a slide changed."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from slidebatch.api import status_body
from slidebatch.api.status_body import StatusBodies
from slidebatch.core.aspect import AspectRatio
from slidebatch.core.batch import BatchRecord
from slidebatch.core.cost import CostSource, UnitCost
from slidebatch.core.states import BatchState, SlideState
from slidebatch.engine.answers import BatchStatus, SlideAnswer

T0 = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)


def _answer(n: int, state: SlideState = SlideState.PENDING) -> SlideAnswer:
    return SlideAnswer(
        batch_id="b" * 32, slide_id=f"s{n}", page_num=n, type="content", title=f"T{n}",
        content_text="", visual_desc="", state=state, image_url=None, final_prompt="p",
        error_message=None, generation_time=None, attempts=0, placeholder=False, cost=None,
    )  # fmt: skip


def _status(answers: tuple[SlideAnswer, ...], version: str) -> BatchStatus:
    batch = BatchRecord(
        id="b" * 32, state=BatchState.RUNNING, style_prompt="s", aspect_ratio=AspectRatio(16, 9),
        requested_workers=None, effective_workers=None, total_slides=len(answers), created_at=T0,
    )  # fmt: skip
    counts = dict.fromkeys(SlideState, 0)
    return replace(BatchStatus.of(batch, counts), results=answers, version=version)


def test_a_new_version_encodes_only_the_slides_that_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Version 2 with one slide done re-encodes that slide alone; the body is still whole."""
    encoded: list[str] = []
    real = status_body._encode_slide

    def counting(answer: SlideAnswer) -> bytes:
        encoded.append(answer.slide_id)
        return real(answer)

    monkeypatch.setattr(status_body, "_encode_slide", counting)
    bodies = StatusBodies()
    first = tuple(_answer(n) for n in range(1, 5))
    bodies.encode(_status(first, "e.1"))
    assert encoded == ["s1", "s2", "s3", "s4"]
    encoded.clear()
    second = (first[0], _answer(2, SlideState.DONE), first[2], first[3])
    body = json.loads(bodies.encode(_status(second, "e.2")))
    assert encoded == ["s2"]
    assert [r["status"] for r in body["results"]] == ["pending", "done", "pending", "pending"]
    encoded.clear()
    bodies.encode(_status(second, "e.2"))
    assert encoded == []  # the same version: nothing encoded again


def test_the_seeds_finished_only_answer_reuses_the_encoded_slides(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The seed's status (ended slides only) is cut from the cached whole list: a new version
    encodes the slide that moved, not every ended slide again."""
    encoded: list[str] = []
    real = status_body._encode_slide

    def counting(answer: SlideAnswer) -> bytes:
        encoded.append(answer.slide_id)
        return real(answer)

    monkeypatch.setattr(status_body, "_encode_slide", counting)
    bodies = StatusBodies()
    first = (_answer(1, SlideState.DONE), _answer(2), _answer(3, SlideState.ERROR), _answer(4))
    body = json.loads(bodies.encode(_status(first, "e.1"), finished_only=True))
    assert [r["slide_id"] for r in body["results"]] == ["s1", "s3"]
    encoded.clear()
    second = (first[0], first[1], first[2], _answer(4, SlideState.DONE))
    body = json.loads(bodies.encode(_status(second, "e.2"), finished_only=True))
    assert encoded == ["s4"]
    assert [r["slide_id"] for r in body["results"]] == ["s1", "s3", "s4"]


class _Watched(SlideAnswer):
    """A slide answer that counts reads of the fields a walk over the slides would read."""

    reads: list[str] = []  # noqa: RUF012 -- one list for the test, cleared by it

    def __getattribute__(self, name: str) -> object:
        if name in ("spent", "state", "cost"):
            _Watched.reads.append(name)
        return super().__getattribute__(name)


def test_cost_and_estimate_come_from_the_counts_without_a_walk_over_the_slides() -> None:
    """A poll's cost and estimate come from the answer's spend and counts: no slide is read
    (the reader keeps both up to date per changed slide)."""
    answers = tuple(_Watched(**_fields(_answer(n, SlideState.DONE))) for n in range(1, 4))
    counts = dict.fromkeys(SlideState, 0) | {SlideState.DONE: 2}
    status = replace(_status(answers, "e.1"), cost=0.5)
    status = replace(status, progress=BatchStatus.of(_batch(3), counts).progress)
    _Watched.reads.clear()
    fields = status_body._cost_fields(status, UnitCost(0.25, CostSource.MEASURED))
    assert fields == {"cost": 0.5, "estimated_cost": 0.75}
    assert _Watched.reads == []


def _fields(answer: SlideAnswer) -> dict[str, object]:
    return {f: getattr(answer, f) for f in SlideAnswer.__dataclass_fields__}


def _batch(total: int) -> BatchRecord:
    return BatchRecord(
        id="b" * 32, state=BatchState.RUNNING, style_prompt="s", aspect_ratio=AspectRatio(16, 9),
        requested_workers=None, effective_workers=None, total_slides=total, created_at=T0,
    )  # fmt: skip


def test_a_new_image_price_changes_the_etag_and_a_delta_carries_the_estimate() -> None:
    """A measured price replacing the configured one moves every unfinished batch's
    estimated_cost with no new version: the ETag changes with it (a 304 hid the new
    estimate). A ?since= delta (one slide of three) carries the same cost and estimate
    as the whole answer, whose ETag it shares (it said null)."""
    answers = tuple(_answer(n) for n in range(1, 4))
    status = replace(_status(answers, "e.1"), cost=0.0)
    configured, measured = (
        UnitCost(0.05, CostSource.CONFIGURED),
        UnitCost(0.134, CostSource.MEASURED),
    )
    bodies = StatusBodies()
    first = bodies.response(status, None, unit=configured)
    etag = first.headers["etag"]
    assert bodies.response(status, etag, unit=configured).status_code == 304
    moved = bodies.response(status, etag, unit=measured)
    assert moved.status_code == 200
    assert json.loads(moved.body)["estimated_cost"] == pytest.approx(0.402)
    delta = replace(status, results=answers[:1])
    assert json.loads(bodies.encode(delta, unit=measured))["estimated_cost"] == pytest.approx(0.402)


def test_the_seeds_answer_has_its_own_etag_and_a_304_keeps_cache_control() -> None:
    """The seed's answer (ended slides only) at a version is tagged apart from the whole
    answer at that version, so its tag sent with a GET gets the whole list, not a 304; a
    304 says ``no-cache`` as its 200 does."""
    answers = (_answer(1, SlideState.DONE), _answer(2))
    status = _status(answers, "e.1")
    bodies = StatusBodies()
    whole = bodies.response(status, None)
    seeds = bodies.response(status, None, finished_only=True)
    assert seeds.headers["etag"] != whole.headers["etag"]
    assert bodies.response(status, seeds.headers["etag"]).status_code == 200
    unchanged = bodies.response(status, whole.headers["etag"])
    assert unchanged.status_code == 304
    assert unchanged.headers["cache-control"] == "no-cache"
