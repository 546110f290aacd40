"""Rows <-> domain records for the batches and slides tables (storage-internal)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.batch import BatchOrigin, BatchRecord, SlideRecord
from slidebatch.core.slide import Slide, SlideType
from slidebatch.core.states import BatchState, SlideState


def fresh_slide() -> dict[str, Any]:
    """Column values of a slide that starts over (retry, regenerate)."""
    return {
        "state": str(SlideState.PENDING),
        "attempts": 0,
        "requeues": 0,
        "error_message": None,
        "image_file": None,
        "generation_time": None,
        "cost": None,
        "placeholder": False,
        "warnings": None,
        "started_at": None,
        "finished_at": None,
    }


def slide_values(batch_id: str, key: int, slide: Slide, final_prompt: str) -> dict[str, Any]:
    """Column values of a new pending slide."""
    return {
        "batch_id": batch_id,
        "key": key,
        "client_id": slide.id,
        "page_num": slide.page_num,
        "type": str(slide.type),
        "title": slide.title,
        "content_text": slide.content_text,
        "visual_desc": slide.visual_desc,
        "final_prompt": final_prompt,
        "state": str(SlideState.PENDING),
        "attempts": 0,
        "requeues": 0,
        "placeholder": False,
    }


def batch_record(row: Row[Any]) -> BatchRecord:
    """A ``batches`` row as a domain record."""
    return BatchRecord(
        id=row.id,
        state=BatchState(row.state),
        style_prompt=row.style_prompt,
        aspect_ratio=AspectRatio.parse(row.aspect_ratio),
        requested_workers=row.requested_workers,
        effective_workers=row.effective_workers,
        total_slides=row.total_slides,
        created_at=row.created_at,
        title=row.title,
        owner=row.owner,
        started_at=row.started_at,
        finished_at=row.finished_at,
        cancel_requested=bool(row.cancel_requested),
        idempotency_key=row.idempotency_key,
        origin=None
        if row.output_key is None
        else BatchOrigin(row.output_key, row.fingerprint or ""),
        max_cost=row.max_cost,
        stop_reason=row.stop_reason,
    )


def slide_record(row: Row[Any]) -> SlideRecord:
    """A ``slides`` row as a domain record."""
    return SlideRecord(
        batch_id=row.batch_id,
        key=row.key,
        slide=Slide(
            id=row.client_id,
            page_num=row.page_num,
            type=SlideType(row.type),
            title=row.title,
            content_text=row.content_text,
            visual_desc=row.visual_desc,
        ),
        state=SlideState(row.state),
        attempts=row.attempts,
        requeues=row.requeues,
        image_file=row.image_file,
        final_prompt=row.final_prompt,
        error_message=row.error_message,
        generation_time=row.generation_time,
        cost=row.cost,
        spent=row.spent,
        cost_estimated=bool(row.cost_estimated),
        placeholder=bool(row.placeholder),
        started_at=row.started_at,
        finished_at=row.finished_at,
        warnings=decode_warnings(row.warnings),
    )


def slide_columns(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``SlideRecord`` fields as ``slides`` column values (the state's name, warnings as JSON)."""
    columns = dict(fields)
    if "state" in columns:
        columns["state"] = str(columns["state"])
    if "warnings" in columns:
        columns["warnings"] = encode_warnings(columns["warnings"])
    return columns


def stored_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``SlideRecord`` fields as a read would return them once stored: times in UTC
    (``UTCDateTime``), warnings as the tuple they decode to."""
    stored: dict[str, Any] = {}
    for name, value in fields.items():
        if isinstance(value, datetime):
            value = value.astimezone(UTC)
        elif name == "warnings":
            value = decode_warnings(encode_warnings(tuple(value)))
        stored[name] = value
    return stored


def encode_warnings(warnings: tuple[str, ...]) -> str | None:
    """The ``warnings`` column's value: a JSON list, NULL when there are none."""
    return json.dumps(list(warnings), ensure_ascii=False) if warnings else None


def decode_warnings(value: str | None) -> tuple[str, ...]:
    """The warnings stored by :func:`encode_warnings` (a damaged value reads as none)."""
    if not value:
        return ()
    try:
        items = json.loads(value)
    except ValueError:
        return ()
    return tuple(str(item) for item in items) if isinstance(items, list) else ()
