from __future__ import annotations

import logging
from datetime import UTC, datetime
from enum import StrEnum

from slidebatch.config import load_settings
from slidebatch.observability.context import (
    RequestIdFilter,
    reset_request_id,
    set_request_id,
)
from slidebatch.observability.scrub import Scrubber, settings_secrets


class Color(StrEnum):
    RED = "red"


def test_settings_secrets_finds_upstream_keys_and_the_database_password() -> None:
    """Every configured upstream key and the password inside DATABASE_URL are secrets."""
    settings = load_settings(
        llm_api_key="sk-or-v1-aaaaaaaaaaaa",
        openai_api_key="sk-openai-bbbbbbbbbbbb",
        database_url="postgresql+asyncpg://app:pa55word@db/slides",
    )
    assert sorted(settings_secrets(settings)) == sorted(
        ["sk-or-v1-aaaaaaaaaaaa", "sk-openai-bbbbbbbbbbbb", "pa55word"]
    )
    assert settings_secrets(load_settings(database_url="sqlite+aiosqlite:///x.db")) == []


def test_the_scrubber_makes_records_json_ready_and_masks_everywhere() -> None:
    """Nested values, keys, enums, dates and odd objects come out JSON-ready and masked."""
    scrub = Scrubber(["topsecret", "top"])
    out = scrub.record(
        {
            "a": ("topsecret!", 1, None, 2.5),
            "topsecret": {Color.RED},
            "t": datetime(2026, 1, 1, tzinfo=UTC),
        }
    )
    assert out == {"a": ["****!", 1, None, 2.5], "****": ["red"], "t": "2026-01-01T00:00:00+00:00"}
    assert not Scrubber([""])
    assert Scrubber([""]).text("anything") == "anything"


def test_the_logging_filter_adds_the_request_id() -> None:
    """Log records carry the current request id, or '-' outside a request."""
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "msg", None, None)
    RequestIdFilter().filter(record)
    assert getattr(record, "request_id", None) == "-"
    token = set_request_id("r-42")
    try:
        RequestIdFilter().filter(record)
    finally:
        reset_request_id(token)
    assert getattr(record, "request_id", None) == "r-42"
