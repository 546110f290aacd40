"""A deck's fingerprint: what must be equal for a re-run to continue an earlier batch.

Slides (every field that reaches the prompt), style, aspect ratio and the provider (with
its model and image size) decide what the images look like, so they are in it; the per-batch
worker cap is not (changing ``--workers`` on a re-run still continues the same batch).
"""

from __future__ import annotations

import hashlib
import json

from slidebatch.core.slide import BatchRequest


def deck_fingerprint(request: BatchRequest, *, provider: str) -> str:
    """A hex SHA-256 over the deck's content, style, aspect ratio and ``provider``.

    ``provider`` names the provider and whatever else of it changes the images (model,
    image size), as one string.
    """
    content: dict[str, object] = {
        "slides": [
            [s.id, s.page_num, str(s.type), s.title, s.content_text, s.visual_desc]
            for s in request.slides
        ],
        "style_prompt": request.style_prompt,
        "aspect_ratio": str(request.aspect_ratio),
        "title": request.title,
        "provider": provider,
    }
    if request.look:
        # Only when present, so decks without references keep their earlier fingerprints.
        digests = [r.digest for r in request.look.references]
        content["look"] = {"references": digests, "anchor": request.look.anchor}
    text = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def request_fingerprint(request: BatchRequest) -> str:
    """A hex SHA-256 over everything a batch request asks for, worker cap and max_cost included.

    An ``Idempotency-Key`` is bound to it: the same key with a different request is a
    client's mistake (two decks under one key), answered 409 instead of silently dropped.
    """
    asked = f"request|workers={request.max_workers}"
    if request.max_cost is not None:
        # Only when present, so requests without a ceiling keep their earlier fingerprints.
        asked += f"|max_cost={request.max_cost!r}"
    return deck_fingerprint(request, provider=asked)
