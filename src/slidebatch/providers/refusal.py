"""One refusal vocabulary for every upstream: the model will not draw this prompt.

Gemini says it with a ``finishReason`` (and explains in ``finishMessage``) or a
``promptFeedback.blockReason``; OpenRouter with ``finish_reason: content_filter`` plus the
model's ``native_finish_reason``; OpenAI with an error code (``moderation_blocked``). Each of
these is a :class:`~slidebatch.errors.Refused`: permanent at once, with the upstream's words.
"""

from __future__ import annotations

from slidebatch.errors import Refused
from slidebatch.providers.http import quote_upstream

# Upper-cased; compared case-insensitively.
REFUSAL_REASONS = frozenset(
    {
        # Gemini finish and block reasons
        "SAFETY",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "RECITATION",
        "IMAGE_RECITATION",
        "NO_IMAGE",
        "IMAGE_OTHER",
        # OpenAI-compatible finish reasons and error codes
        "CONTENT_FILTER",
        "MODERATION_BLOCKED",
        "CONTENT_POLICY_VIOLATION",
    }
)
# Said by a relay next to a more precise native reason; the native one is reported.
_GENERIC = frozenset({"CONTENT_FILTER", "SAFETY"})


def refusal_reason(*codes: object) -> str | None:
    """The most precise refusal code among ``codes`` (native before generic), or ``None``."""
    found = [str(code).upper() for code in codes if str(code or "").upper() in REFUSAL_REASONS]
    precise = [code for code in found if code not in _GENERIC]
    chosen = precise or found
    return chosen[0] if chosen else None


def refused(
    reason: str,
    explanation: str,
    *,
    secret: str | None,
    status: int | None = 200,
    request_id: str | None = None,
) -> Refused:
    """The one refusal error: the reason code and the upstream's own explanation."""
    said = quote_upstream(explanation, secret) or "no explanation given"
    return Refused(
        f"the upstream refused to draw this slide ({reason}): {said}",
        reason=reason,
        status=status,
        upstream_request_id=request_id,
    )
