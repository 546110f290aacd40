"""The day's file held open: rotation by the injected clock, external rename and deletion."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from slidebatch.observability import daily_file
from slidebatch.observability.daily_file import RECHECK_SECONDS, DailyJsonLines

CST = timezone(timedelta(hours=8))


class Wall:
    """A settable wall clock."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


def _numbers(path: Path) -> list[int]:
    return [json.loads(line)["n"] for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every path the module opens, in order."""
    seen: list[str] = []
    real: Callable[..., int] = os.open

    def counting(path: Any, flags: int, mode: int = 0o777) -> int:
        seen.append(str(path))
        return real(path, flags, mode)

    monkeypatch.setattr(daily_file.os, "open", counting)
    return seen


def test_the_file_is_opened_once_for_many_lines(tmp_path: Path, opens: list[str]) -> None:
    """A hundred lines of one day, the clock moving, cost one open."""
    wall = Wall(datetime(2026, 11, 3, 9, tzinfo=CST))
    log = DailyJsonLines(tmp_path, "audit", now=wall)
    for n in range(100):
        log.write({"n": n})
        wall.advance(0.5)
    assert _numbers(tmp_path / "audit_20261103.log") == list(range(100))
    assert opens == [str(tmp_path / "audit_20261103.log")]


def test_midnight_by_the_injected_clock_switches_the_file(tmp_path: Path, opens: list[str]) -> None:
    """The line after local midnight opens the next day's file; a late line of the day
    before (``at``) still goes to that day's file."""
    wall = Wall(datetime(2026, 11, 3, 23, 59, 59, tzinfo=CST))
    log = DailyJsonLines(tmp_path, "audit", now=wall)
    log.write({"n": 1})
    wall.advance(2)
    log.write({"n": 2})
    log.write({"n": 3}, at=datetime(2026, 11, 3, 23, 59, 59, 500000, tzinfo=CST))
    log.write({"n": 4})
    assert _numbers(tmp_path / "audit_20261103.log") == [1, 3]
    assert _numbers(tmp_path / "audit_20261104.log") == [2, 4]
    assert len(opens) == 4


def test_a_deleted_file_is_made_again_at_the_next_line(tmp_path: Path) -> None:
    """Deleting the open file (no clock movement) sends the next line to a new file."""
    wall = Wall(datetime(2026, 11, 3, 9, tzinfo=CST))
    log = DailyJsonLines(tmp_path, "audit", now=wall)
    log.write({"n": 1})
    (tmp_path / "audit_20261103.log").unlink()
    log.write({"n": 2})
    assert _numbers(tmp_path / "audit_20261103.log") == [2]


def test_a_renamed_file_is_left_within_the_recheck_interval(tmp_path: Path) -> None:
    """After an external rename (logrotate) lines go on into the renamed file until the
    clock has moved ``RECHECK_SECONDS``; then the path is opened afresh."""
    wall = Wall(datetime(2026, 11, 3, 9, tzinfo=CST))
    log = DailyJsonLines(tmp_path, "audit", now=wall)
    path = tmp_path / "audit_20261103.log"
    log.write({"n": 1})
    path.rename(tmp_path / "audit_20261103.log.1")
    wall.advance(RECHECK_SECONDS / 2)
    log.write({"n": 2})
    wall.advance(RECHECK_SECONDS)
    log.write({"n": 3})
    assert _numbers(tmp_path / "audit_20261103.log.1") == [1, 2]
    assert _numbers(path) == [3]


def test_close_then_write_opens_again(tmp_path: Path, opens: list[str]) -> None:
    """``close`` releases the file; a line after it is not lost."""
    log = DailyJsonLines(tmp_path, "audit", now=Wall(datetime(2026, 11, 3, tzinfo=CST)))
    log.write({"n": 1})
    log.close()
    log.close()
    log.write({"n": 2})
    assert _numbers(tmp_path / "audit_20261103.log") == [1, 2]
    assert len(opens) == 2
