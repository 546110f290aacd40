"""The batch list as bytes: each listed batch encoded once per distinct answer.

A list of 200 batches built and validated 200 pydantic models and encoded them again at
every request, though a finished batch's answer never changes. Answers are frozen values:
an unchanged one is found in a bounded cache and its JSON reused; a running batch's answer
moves with its ETA and is encoded afresh.
"""

from __future__ import annotations

from collections import OrderedDict

from fastapi import Response

from slidebatch.api.schemas import BatchListOut, BatchStatusOut
from slidebatch.api.status_body import estimated_cost
from slidebatch.core.cost import UnitCost
from slidebatch.engine.answers import BatchPage, BatchStatus

# Encoded answers kept (least recently listed dropped first): a few pages of 200.
CACHED_ITEMS = 2048


class ListBodies:
    """Encodes list pages, reusing the JSON of every answer already encoded."""

    def __init__(self, size: int = CACHED_ITEMS) -> None:
        self._size = size
        # Keyed by the answer and the price its estimate was made at.
        self._items: OrderedDict[tuple[BatchStatus, UnitCost], bytes] = OrderedDict()
        self.encoded = 0  # answers encoded (not found in the cache), for tests and metrics

    def response(self, page: BatchPage, unit: UnitCost) -> Response:
        """``page`` as the ``BatchListOut`` JSON; each item's ``estimated_cost`` at ``unit``,
        as its status answers it."""
        items = b",".join(self._item(answer, unit) for answer in page.items)
        head = BatchListOut(items=[], total=page.total, limit=page.limit, offset=page.offset)
        whole = b'"items":[' + items + b"]"
        body = head.model_dump_json().encode().replace(b'"items":[]', whole, 1)
        return Response(body, media_type="application/json")

    def _item(self, answer: BatchStatus, unit: UnitCost) -> bytes:
        key = (answer, unit)
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
            return found
        self.encoded += 1
        model = BatchStatusOut.of(answer).model_copy(
            update={"estimated_cost": estimated_cost(answer, unit)}
        )
        encoded = model.model_dump_json().encode()
        self._items[key] = encoded
        while len(self._items) > self._size:
            self._items.popitem(last=False)
        return encoded
