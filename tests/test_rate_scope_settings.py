"""GEMINI_PROJECT_ID: keys declared in one Gemini project share one gate scope."""

from __future__ import annotations

from typing import Any

import pytest

from slidebatch.config import ConfigError, Settings, load_settings
from slidebatch.providers.registry import build_provider, make_http_client
from slidebatch.services import rate_scope

FIRST_KEY = "gemini-scope-test-key-0001"
SECOND_KEY = "gemini-scope-test-key-0002"


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, image_provider="gemini", **values)  # type: ignore[call-arg]


async def scope_key(s: Settings) -> str:
    async with make_http_client(s) as client:
        return rate_scope(s, build_provider(s, client)).key


async def test_two_keys_of_one_declared_project_share_a_scope() -> None:
    """Processes holding different keys of one project are paced by one gate scope."""
    first = await scope_key(settings(gemini_api_key=FIRST_KEY, gemini_project_id="deck-factory"))
    second = await scope_key(settings(gemini_api_key=SECOND_KEY, gemini_project_id="deck-factory"))
    assert first == second == "gemini:project:deck-factory/gemini-3-pro-image-preview"


async def test_without_a_project_each_key_is_its_own_scope() -> None:
    """Undeclared keys are not assumed to share a project, and no scope shows a key."""
    first = await scope_key(settings(gemini_api_key=FIRST_KEY))
    second = await scope_key(settings(gemini_api_key=SECOND_KEY))
    assert first != second
    assert FIRST_KEY not in first
    assert SECOND_KEY not in second


@pytest.mark.parametrize("bad", ["My Project", "-starts-with-dash", "x" * 101, "a/b"])
def test_a_malformed_project_id_fails_at_start(bad: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """GEMINI_PROJECT_ID that no Google project could have is refused with its name."""
    monkeypatch.setenv("GEMINI_PROJECT_ID", bad)
    with pytest.raises(ConfigError, match="GEMINI_PROJECT_ID"):
        load_settings(_env_file=None)


def test_a_blank_project_id_is_none() -> None:
    """An empty GEMINI_PROJECT_ID (a blank line in .env) means no project declared."""
    assert settings(gemini_api_key=FIRST_KEY, gemini_project_id=" ").gemini_project_id is None
