"""The status answer as bytes: its slides encoded once per batch version, an ETag, and 304.

A poll of a 200-slide batch used to rebuild and encode every slide each time. The slides'
JSON now is made once per batch version (``engine/versions.py``) and reused until a slide
changes, and a new version re-encodes only the slides whose answer changed; only the small
head (counts, ETA, queue position) is encoded per request. The ETag
names the version and what moves without one (queue position, a gate wait); it is weak
because the ETA inside moves with time. An unchanged batch answers 304.
"""

from __future__ import annotations

import operator
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from itertools import compress

from fastapi import Response

from slidebatch.api.schemas import BatchStatusOut, SlideResultOut
from slidebatch.core.cost import UnitCost
from slidebatch.engine.answers import BatchStatus, SlideAnswer

# Encoded slide lists kept (least recently used dropped first).
CACHED_BATCHES = 256


@dataclass(slots=True)
class _Encoded:
    """A batch's slide list as encoded at ``version``, slide by slide and whole (and, once
    asked, the ended slides alone: the seed's answer)."""

    version: str
    answers: tuple[SlideAnswer, ...]
    parts: tuple[bytes, ...]
    body: bytes
    ended: bytes | None = None

    def finished(self) -> bytes:
        """The list of the slides that ended, from the parts already encoded."""
        if self.ended is None:
            kept = compress(self.parts, (a.state.is_final for a in self.answers))
            self.ended = b"[" + b",".join(kept) + b"]"
        return self.ended


class StatusBodies:
    """Encodes status answers, reusing each batch version's slides and unchanged slides."""

    def __init__(self, size: int = CACHED_BATCHES) -> None:
        self._size = size
        self._results: OrderedDict[str, _Encoded] = OrderedDict()

    def response(
        self,
        status: BatchStatus,
        if_none_match: str | None,
        *,
        unit: UnitCost | None = None,
        finished_only: bool = False,
    ) -> Response:
        """``status`` as JSON with its ETag, or 304 when the client has this version.

        With ``unit``, the answer carries ``cost`` (reported so far) and ``estimated_cost``.
        ``finished_only``: the seed's answer, listing only the slides that ended.
        """
        etag = _etag(status, unit, finished_only=finished_only)
        # A 304 carries the Cache-Control the 200 would (RFC 9110, 15.4.5).
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        if if_none_match is not None and _matches(if_none_match, etag):
            return Response(status_code=304, headers=headers)
        body = self.encode(status, unit=unit, finished_only=finished_only)
        return Response(body, media_type="application/json", headers=headers)

    def encode(
        self, status: BatchStatus, *, unit: UnitCost | None = None, finished_only: bool = False
    ) -> bytes:
        """The answer's JSON; the slide list comes from the cache when it is whole."""
        results = status.results or ()
        whole = len(results) == status.progress.total_slides and status.version is not None
        head_model = BatchStatusOut.of(status.without_results())
        progress = status.progress
        every_slide = not finished_only or progress.completed_slides == progress.total_slides
        if unit is not None and every_slide:
            head_model = head_model.model_copy(update=_cost_fields(status, unit))
        head = head_model.model_dump_json(exclude={"results"})
        if not whole:
            answers = tuple(a for a in results if a.state.is_final) if finished_only else results
            body = _encode_slides(answers)
        else:
            encoded = self._whole(status.batch_id, status.version or "", results)
            body = encoded.finished() if finished_only else encoded.body
        return head.encode()[:-1] + b',"results":' + body + b"}"

    def _whole(self, batch_id: str, version: str, results: tuple[SlideAnswer, ...]) -> _Encoded:
        """The whole list at ``version``; a new version re-encodes only the slides that moved.

        A running batch has a new version at nearly every poll, and encoding 200 slides
        through pydantic took most of a poll's time. The slides that moved are found by
        identity at C speed (the reader keeps unchanged answers as the same objects), so a
        poll's Python work is the moved slides, not the batch.
        """
        cached = self._results.get(batch_id)
        if cached is not None and cached.version == version:
            self._results.move_to_end(batch_id)
            return cached
        if cached is not None and len(cached.answers) == len(results):
            parts = list(cached.parts)
            moved = compress(range(len(results)), map(operator.is_not, cached.answers, results))
            for at in moved:
                if cached.answers[at] != results[at]:
                    parts[at] = _encode_slide(results[at])
        else:
            parts = [_encode_slide(answer) for answer in results]
        encoded = _Encoded(version, results, tuple(parts), b"[" + b",".join(parts) + b"]")
        self._results[batch_id] = encoded
        self._results.move_to_end(batch_id)
        while len(self._results) > self._size:
            self._results.popitem(last=False)
        return encoded


def _cost_fields(status: BatchStatus, unit: UnitCost) -> dict[str, float | None]:
    """``cost`` and ``estimated_cost``, in a ?since= delta too (the same figures as the
    whole answer, which shares its ETag).

    From the answer's counts and its ``cost`` (the reader keeps the batch's spend up to date
    per changed slide): a poll walks no slide for them.
    """
    return {"cost": status.cost, "estimated_cost": estimated_cost(status, unit)}


def estimated_cost(status: BatchStatus, unit: UnitCost) -> float | None:
    """What the batch should cost in all: its spend plus the slides not done at ``unit``
    (from the counts: the status and the list answer the same)."""
    progress = status.progress
    rest = unit.estimate(progress.total_slides - progress.completed_slides)
    return None if rest is None else round((status.cost or 0.0) + rest, 6)


def _etag(status: BatchStatus, unit: UnitCost | None, *, finished_only: bool = False) -> str:
    """The version, plus what moves without one: the queue position, a gate wait and the
    image price ``estimated_cost`` is counted at (a measured price replaces a configured
    one for every unfinished batch at once). The seed's answer (``finished_only``) lists
    fewer slides than the whole one at the same version: it has a tag of its own, so that
    its tag sent with a GET is never answered 304."""
    progress = status.progress
    quota = progress.waiting_for_quota
    price = None if unit is None else unit.per_image
    moving = f"{status.queue_position}|{progress.waiting}|{quota}|{price}|{finished_only}"
    return f'W/"{status.version}-{zlib.crc32(moving.encode()):08x}"'


def _encode_slides(results: tuple[SlideAnswer, ...]) -> bytes:
    return b"[" + b",".join(_encode_slide(s) for s in results) + b"]"


def _encode_slide(answer: SlideAnswer) -> bytes:
    return SlideResultOut.of(answer).model_dump_json().encode()


def _matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110's weak comparison of ``If-None-Match`` (a list, or ``*``) with ``etag``."""
    wanted = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == wanted:
            return True
    return False
