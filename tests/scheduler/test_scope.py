"""Gates are keyed by the scope the provider counts its limit in."""

from __future__ import annotations

from slidebatch.scheduler.gate import GateConfig, GateRegistry
from slidebatch.scheduler.scope import RateScope
from slidebatch.testing.clock import FakeClock


def test_openrouter_and_openai_limits_are_per_model() -> None:
    """One OpenRouter account, two models: two scopes; the same model: one."""
    a = RateScope.of("openrouter", "openrouter:abc", "google/gemini-3-pro-image-preview")
    b = RateScope.of("openrouter", "openrouter:abc", "openai/gpt-5-image")
    assert a.key != b.key
    assert a == RateScope.of("openrouter", "openrouter:abc", "google/gemini-3-pro-image-preview")
    assert RateScope.of("openai", "openai:def", "gpt-image-1").key == "openai:def/gpt-image-1"


def test_gemini_limits_are_per_project_and_model() -> None:
    """Gemini counts per project and model: two models of one key are two scopes."""
    first = RateScope.of("gemini", "gemini:123", "gemini-3-pro-image-preview")
    second = RateScope.of("gemini", "gemini:123", "gemini-2.5-flash-image")
    assert first.key == "gemini:123/gemini-3-pro-image-preview"
    assert first.key != second.key


def test_gemini_keys_declared_in_one_project_share_one_scope() -> None:
    """Two keys, one declared project: one scope; undeclared, each key is its own scope."""
    model = "gemini-3-pro-image-preview"
    one = RateScope.of("gemini", "gemini:aaa", model, project="deck-factory")
    two = RateScope.of("gemini", "gemini:bbb", model, project="deck-factory")
    assert one.key == two.key == f"gemini:project:deck-factory/{model}"
    other = RateScope.of("gemini", "gemini:bbb", model, project="another-project")
    assert other.key != one.key
    assert (
        RateScope.of("gemini", "gemini:aaa", model).key
        != RateScope.of("gemini", "gemini:bbb", model).key
    )


def test_a_gemini_project_does_not_merge_other_providers_keys() -> None:
    """The project names Gemini keys only: an OpenRouter account keeps its own scope."""
    scope = RateScope.of("openrouter", "openrouter:abc", "m1", project="deck-factory")
    assert scope.key == "openrouter:abc/m1"


def test_the_registry_shares_a_gate_per_scope() -> None:
    """Same scope, same gate; another model of the account, another gate."""
    registry = GateRegistry(GateConfig(rate=20), clock=FakeClock())
    one = RateScope.of("openrouter", "openrouter:abc", "m1").key
    two = RateScope.of("openrouter", "openrouter:abc", "m2").key
    assert registry.gate_for(one) is registry.gate_for(one)
    assert registry.gate_for(one) is not registry.gate_for(two)
