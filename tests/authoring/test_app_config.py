"""The seed's settings page over our settings: masking and what a save keeps."""

from __future__ import annotations

from pathlib import Path

from slidebatch.authoring.app_config import (
    environment_config,
    mask,
    masked,
    merged_update,
    problems,
)
from slidebatch.config import load_settings

KEY = "sk-or-v1-abcdefghijklmnopqrstuvwxyz-9876"


def test_secrets_leave_masked(tmp_path: Path) -> None:
    """The key shows as ****<last 4>; short keys as **** only; no key as empty."""
    settings = load_settings(data_dir=tmp_path, llm_api_key=KEY)
    shown = masked(environment_config(settings))
    assert shown["llm_api_key"] == "****9876"
    assert KEY not in str(shown)
    assert mask("short") == "****"
    assert mask("") == ""


def test_a_masked_secret_sent_back_keeps_the_stored_one() -> None:
    """The page posts the whole config back: a masked key changes nothing, a new key does."""
    current = {"llm_api_key": KEY, "llm_chat_model": "a"}
    assert merged_update(current, {"llm_api_key": "****9876", "llm_chat_model": "b"}) == {
        "llm_chat_model": "b"
    }
    assert merged_update(current, {"llm_api_key": "sk-new"}) == {"llm_api_key": "sk-new"}


def test_problems_name_what_is_wrong() -> None:
    """An empty key, a base that is not http(s), a timeout outside LLM_TIMEOUT_SECONDS' range."""
    found = problems({"llm_api_key": "", "llm_api_base": "ftp://x", "llm_timeout_seconds": 0})
    assert len(found) == 3
    ok = {"llm_api_key": "k", "llm_api_base": "https://x", "llm_timeout_seconds": 120}
    assert problems(ok) == []
