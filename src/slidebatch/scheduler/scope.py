"""What one upstream limit counts: the key a gate is shared under (SPEC section 5).

Providers count their limits per scope: OpenRouter per account and model, OpenAI per
project (one key belongs to one project) and model, Gemini per project and model. Gates are
keyed by that scope, so that two models of one OpenRouter account do not share a window,
and a fleet gate (one row per scope) counts exactly what the provider counts.

Gemini's own words (ai.google.dev/gemini-api/docs/rate-limits): "Rate limits are applied
per project, not per API key", and "Limits vary depending on the specific model being used"
(its quota ids read ``GenerateRequestsPerMinutePerProjectPerModel``). A key names no
project, so by default each key is taken for its own project; keys declared in one project
(``GEMINI_PROJECT_ID``) share one scope, hence one gate and, in a fleet, one row, whichever
key each process holds.
"""

from __future__ import annotations

from dataclasses import dataclass

# Providers whose limits are per model as well as per credential.
_PER_MODEL = frozenset({"openrouter", "openai", "gemini"})
# Providers whose credential may be declared as a project shared by several keys.
_PER_PROJECT = frozenset({"gemini"})


@dataclass(frozen=True, slots=True)
class RateScope:
    """Provider, credential (account or project) and, where it counts, the model."""

    provider: str
    credential: str
    model: str | None = None

    @classmethod
    def of(
        cls, provider: str, credential: str, model: str | None, *, project: str | None = None
    ) -> RateScope:
        """The scope ``provider`` counts its limit in (the model only where it matters).

        ``project``: the project the key was declared in (``GEMINI_PROJECT_ID``); for a
        provider that counts per project it replaces the key's own credential id, so every
        key of that project lands in one scope. Other providers ignore it.
        """
        if project is not None and provider in _PER_PROJECT:
            credential = f"{provider}:project:{project}"
        return cls(provider, credential, model if provider in _PER_MODEL else None)

    @property
    def key(self) -> str:
        """A stable text key (the credential id never reveals the key itself)."""
        return self.credential if self.model is None else f"{self.credential}/{self.model}"
