"""Fixtures of the scheduler tests."""

from __future__ import annotations

import pytest
from scheduler_helpers import RecordingListener

from slidebatch.testing.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock that jumps to the next deadline whenever everything waits on it."""
    return FakeClock()


@pytest.fixture
def listener(clock: FakeClock) -> RecordingListener:
    """Records every hook call with its clock time."""
    return RecordingListener(clock)
