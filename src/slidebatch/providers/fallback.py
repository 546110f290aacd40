"""``IMAGE_PROVIDER_FALLBACK``: when a provider is out of quota or refuses, the next one draws.

The chain is one ``ImageProvider`` to the scheduler (the primary's name and credential, so one
gate paces the whole chain). For each attempt it asks its members in order and moves on when
one answers ``QuotaExhausted`` (that member then rests until its quota resets) or ``Refused``
(another model may draw what this one will not). Anything else is the attempt's answer as it
is: a 5xx or a 429 is retried by the scheduler on the same chain. Only when every member is
resting does the chain itself answer ``QuotaExhausted``, with the earliest reset, so the gate
parks until then. A slide made by a fallback says so in its warnings.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from slidebatch.errors import ProviderError, QuotaExhausted, Refused
from slidebatch.providers.base import ImageProvider, ImageRequest, ImageResult


class FallbackProvider:
    """Providers tried in order; out-of-quota ones rest until their reset."""

    def __init__(
        self,
        members: Sequence[ImageProvider],
        *,
        recheck: float = 3600.0,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if not members:
            raise ValueError("a fallback chain needs at least one provider")
        self._members = tuple(members)
        self._recheck = recheck
        self._wall = wall
        self._resting: dict[int, float] = {}  # member index -> wall time it may be asked again

    @property
    def name(self) -> str:
        return self._members[0].name

    @property
    def credential_id(self) -> str:
        return self._members[0].credential_id

    @property
    def members(self) -> tuple[ImageProvider, ...]:
        return self._members

    async def generate(self, request: ImageRequest) -> ImageResult:
        """Ask each member that is not resting; the first image wins."""
        skipped: list[str] = []
        refusal: Refused | None = None
        for index, member in enumerate(self._members):
            if self._resting.get(index, 0.0) > self._wall():
                skipped.append(f"{member.name}: quota spent")
                continue
            try:
                result = await member.generate(request)
            except QuotaExhausted as error:
                self._resting[index] = error.reset_at or self._wall() + self._recheck
                skipped.append(f"{member.name}: {error.kind}")
                continue
            except Refused as error:
                refusal = refusal or error
                skipped.append(f"{member.name}: refused ({error.reason})")
                continue
            if index == 0:
                return result
            note = f"made by the fallback provider {member.name} ({'; '.join(skipped)})"
            return replace(result, warnings=(*result.warnings, note))
        raise self._exhausted(refusal)

    def _exhausted(self, refusal: Refused | None) -> ProviderError:
        """Every member refused or rests: a refusal if any refused, else the earliest reset."""
        if refusal is not None:
            return refusal
        resets = [self._resting.get(i, self._wall()) for i in range(len(self._members))]
        reset_at = min(resets)
        names = ", ".join(member.name for member in self._members)
        return QuotaExhausted(
            f"every provider of the chain is out of quota ({names})",
            reset_at=reset_at,
            now=self._wall(),
        )
