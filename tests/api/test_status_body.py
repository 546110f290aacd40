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
