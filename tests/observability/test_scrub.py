from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slidebatch.config import load_settings
from slidebatch.observability.context import (
    RequestIdFilter,
    reset_request_id,
    set_request_id,
)
from slidebatch.observability.scrub import (
    Scrubber,
    fragment_probes,
    mask_fragments,
    secret_fragments,
    settings_secrets,
)


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


KEY = "sk-or-v1-0123456789abcdefABCDEF"


@pytest.mark.parametrize(
    "leak",
    [
        KEY[:12],  # a prefix
        KEY[-12:],  # its last 12 characters
        KEY.upper(),  # another case
        KEY[5:20],  # any piece of 8+
        base64.b64encode(KEY.encode()).decode(),  # the key in base64
        base64.b64encode(b"user:" + KEY.encode()).decode(),  # inside a Basic header
        base64.b64encode(b"x" + KEY.encode()).decode(),  # at another alignment
    ],
    ids=["prefix", "last12", "upper", "piece", "b64", "basic", "b64-offset"],
)
def test_pieces_cases_and_base64_of_a_secret_are_masked(leak: str) -> None:
    """No 8+ character piece of a secret survives, in any case or in base64."""
    scrubbed = Scrubber([KEY]).text(f"upstream said: invalid key {leak} (request 42)")
    assert "****" in scrubbed
    lowered = scrubbed.lower()
    for i in range(len(KEY) - 7):
        assert KEY[i : i + 8].lower() not in lowered
    encoded = base64.b64encode(KEY.encode()).decode()
    for i in range(4, len(encoded) - 12):
        assert encoded[i : i + 8] not in scrubbed
    assert scrubbed.startswith("upstream said: invalid key ")
    assert scrubbed.endswith("(request 42)")


def test_short_secrets_are_masked_only_whole() -> None:
    """A secret under 8 characters is masked where it appears whole, nothing more."""
    assert Scrubber(["pa55"]).text("pa55 and pa5") == "**** and pa5"


class _CountedFragments(frozenset[str]):
    """Fragments that count how often they are walked one by one."""

    walks = 0

    def __iter__(self) -> Iterator[str]:
        type(self).walks += 1
        return super().__iter__()


def test_a_text_without_a_secret_is_cleared_without_a_search_per_fragment() -> None:
    """A log string with no piece of a secret is cleared by one set test of its windows,
    not a search for each of the hundred fragments of a key; one with a piece is masked."""
    secret = "sk-or-v1-0123456789abcdef0123456789"
    fragments = _CountedFragments(secret_fragments(secret))
    assert mask_fragments("a" * 32 + " slide_completed", fragments) == "a" * 32 + " slide_completed"
    assert _CountedFragments.walks == 0
    assert mask_fragments("key 0123456789ABCDEF here", fragments) == "key **** here"


_KEY = "sk-or-v1-0123456789abcdef0123456789abcdef"


@settings(max_examples=300, deadline=None)
@given(
    before=st.text(max_size=60),
    piece=st.integers(min_value=0, max_value=len(_KEY)).flatmap(
        lambda start: st.tuples(st.just(start), st.integers(min_value=0, max_value=16))
    ),
    after=st.text(max_size=60),
    upper=st.booleans(),
)
def test_the_probes_clear_exactly_the_texts_the_full_check_clears(
    before: str, piece: tuple[int, int], after: str, upper: bool
) -> None:
    """With probes, a text is masked exactly as without them: a text holding a piece of
    the key (any case, any length) is never let through by the faster first look."""
    start, length = piece
    inserted = _KEY[start : start + length]
    text = before + (inserted.upper() if upper else inserted) + after
    fragments = secret_fragments(_KEY)
    probes = fragment_probes(fragments)
    assert mask_fragments(text, fragments, probes) == mask_fragments(text, fragments)


def test_a_character_that_lowers_to_two_does_not_shift_the_mask() -> None:
    """``İ`` lower-cases to two characters; a piece of the key after it is still masked
    whole, and a log line around it stays one line of valid JSON."""
    scrubber = Scrubber([_KEY])
    text = "İ" * 20 + _KEY[:16].upper()
    assert scrubber.text(text) == "İ" * 20 + "****"
    line = '{"error": "' + "İ" * 3 + _KEY[:12] + '"}\n'
    scrubbed = scrubber.text(line)
    assert _KEY[:8] not in scrubbed
    assert scrubbed.endswith('"}\n')


@settings(max_examples=200, deadline=None)
@given(noise=st.text(alphabet="İİa-", min_size=8, max_size=30), start=st.integers(0, len(_KEY) - 8))
def test_no_piece_of_a_key_survives_among_characters_that_change_length(
    noise: str, start: int
) -> None:
    """Any 8-character piece of the key, between characters whose lower case is longer,
    leaves no 8 characters of the key readable."""
    piece = _KEY[start : start + 8 + len(noise) % 5]
    scrubbed = Scrubber([_KEY]).text(noise + piece + noise)
    folded = scrubbed.lower()
    assert not any(_KEY[i : i + 8].lower() in folded for i in range(len(_KEY) - 7))
