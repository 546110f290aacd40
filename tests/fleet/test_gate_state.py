"""The fleet gate's state text: a ``GateCore`` survives the trip through JSON whole."""

from __future__ import annotations

import json

import pytest

from slidebatch.errors import RateLimited
from slidebatch.fleet.gate_state import _CLASSES, _FIELDS, StateMismatch, decode, encode
from slidebatch.providers.base import RateLimitInfo
from slidebatch.scheduler.gate_config import GateConfig
from slidebatch.scheduler.gate_core import GateCore


def _used_core() -> GateCore:
    core = GateCore(GateConfig(rate=10, window=10.0, per_day=100, probe_gap=0.2), now=0.0)
    for at in range(12):
        if not core.full(float(at)) and core.next_start(float(at)) <= at:
            core.start(float(at))
    core.succeeded(3.0, 1, 0.0, RateLimitInfo(limit=8, remaining=2, reset_after=7.5))
    core.failed(4.0, 2, 1.0, RateLimited("429", retry_after=2.0))
    core.park(50.0, "quota")
    return core


def test_a_core_round_trips_through_its_text() -> None:
    """Decoding the text of a used core gives the same figures and the same next start."""
    core = _used_core()
    again = decode(encode(core))
    for now in (5.0, 20.0, 60.0):
        assert again.stats(now, waiting=0, latencies=[]) == core.stats(now, waiting=0, latencies=[])
    assert encode(again) == encode(core)


def test_every_class_of_the_core_is_known() -> None:
    """The reference core reaches every class the codec may write (none left unchecked)."""
    assert set(_FIELDS) == set(_CLASSES)


def test_a_state_of_another_version_is_a_mismatch() -> None:
    """A field renamed in the code makes old text unusable, not silently half-read."""
    data = json.loads(encode(_used_core()))
    data["fields"]["renamed"] = data["fields"].pop("seq")
    with pytest.raises(StateMismatch):
        decode(json.dumps(data))
    with pytest.raises(StateMismatch):
        decode('{"__object__": "os.system", "fields": {}}')
    with pytest.raises(StateMismatch):
        decode("not json")


def test_adopt_keeps_the_starts_and_numbering() -> None:
    """A core rebuilt for a new config still counts the starts the upstream counted."""
    old = _used_core()
    new = GateCore(GateConfig(rate=20, window=10.0), now=6.0)
    new.adopt(old)
    assert new.seq == old.seq
    assert (
        new.stats(6.0, waiting=0, latencies=[]).starts_in_window
        == old.stats(6.0, waiting=0, latencies=[]).starts_in_window
    )


def test_a_long_running_scope_keeps_a_small_state() -> None:
    """A day at 20 per minute, one 429 in ten: the text holds the starts of the longest
    window the gate may learn (900 s) and the refusals still in the window, a few KB."""
    core = GateCore(GateConfig(rate=20, window=60.0), now=0.0)
    at = 0.0
    for number in range(1, 28_800):
        at = max(at + 0.5, core.next_start(at))
        seq = core.start(at)
        if number % 10:
            core.succeeded(at + 9.0, seq, at, RateLimitInfo())
        else:
            core.failed(at + 1.0, seq, at, RateLimited("429", retry_after=1.0))
    text = encode(core)
    assert len(text) < 8_000, len(text)
    again = decode(text)
    assert again.stats(at, waiting=0, latencies=[]) == core.stats(at, waiting=0, latencies=[])
