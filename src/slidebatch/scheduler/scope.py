"""What one upstream limit counts: the key a gate is shared under (SPEC section 5).

Providers count their limits per scope: OpenRouter per account and model, OpenAI per
project (one key belongs to one project) and model, Gemini per project whatever the model.
Gates are keyed by that scope, so that two models of one OpenRouter account do not share a
window, and a fleet gate (one row per scope) counts exactly what the provider counts.
"""

from __future__ import annotations

from dataclasses import dataclass

# Providers whose limits are per model as well as per credential.
_PER_MODEL = frozenset({"openrouter", "openai"})


@dataclass(frozen=True, slots=True)
class RateScope:
    """Provider, credential (account or project) and, where it counts, the model."""

    provider: str
    credential: str
    model: str | None = None

    @classmethod
    def of(cls, provider: str, credential: str, model: str | None) -> RateScope:
        """The scope ``provider`` counts its limit in (the model only where it matters)."""
        return cls(provider, credential, model if provider in _PER_MODEL else None)

    @property
    def key(self) -> str:
        """A stable text key (the credential id never reveals the key itself)."""
        return self.credential if self.model is None else f"{self.credential}/{self.model}"
