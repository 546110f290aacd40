from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from slidebatch.observability.pipeline_log import PipelineLog

CST = timezone(timedelta(hours=8))


class Wall:
    """A settable wall clock."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _write_batch(log: PipelineLog) -> None:
    log.event("batch_generate_start", batch_id="b1", details={"total_slides": 4})
    for page, seconds in enumerate((12.5, 30.25, 8.0), start=1):
        log.event(
            "slide_completed",
            batch_id="b1",
            details={"page_num": page, "generation_time": seconds, "title": "封面"},
        )
    log.event("slide_failed", level="error", batch_id="b1", details={"page_num": 4})
    log.event(
        "batch_generate_complete",
        batch_id="b1",
        summary={"total_slides": 4, "successful": 3, "failed": 1, "total_time": 31.0},
    )


def test_an_event_is_one_json_line_with_the_documented_keys(tmp_path: Path) -> None:
    """Each event is one line: timestamp (local, with offset), event, level, batch_id, fields."""
    log = PipelineLog(tmp_path, now=Wall(datetime(2026, 11, 3, 9, 30, 0, 123456, tzinfo=CST)))
    log.event("slide_started", batch_id="b1", provider="local", details={"attempt": 1})
    [line] = (tmp_path / "pipeline_20261103.log").read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    assert list(record) == ["timestamp", "event", "level", "batch_id", "provider", "details"]
    assert record["timestamp"] == "2026-11-03T09:30:00.123+08:00"
    assert record["event"] == "slide_started"
    assert record["level"] == "info"
    assert record["details"] == {"attempt": 1}


def test_the_file_is_named_by_the_local_date(tmp_path: Path) -> None:
    """At 01:00 local on Nov 4 (still Nov 3 in UTC) the line goes to the Nov 4 file."""
    log = PipelineLog(tmp_path, now=Wall(datetime(2026, 11, 4, 1, 0, tzinfo=CST)))
    log.event("batch_cleanup")
    assert [p.name for p in tmp_path.iterdir()] == ["pipeline_20261104.log"]


def test_a_new_file_starts_each_day(tmp_path: Path) -> None:
    """Crossing local midnight switches to the next day's file; the old one is kept."""
    wall = Wall(datetime(2026, 11, 3, 23, 59, 59, tzinfo=CST))
    log = PipelineLog(tmp_path, now=wall)
    log.event("batch_generate_start", batch_id="b1")
    wall.moment += timedelta(seconds=2)
    log.event("batch_generate_complete", batch_id="b1", summary={"total_slides": 0})
    assert [r["event"] for r in _lines(tmp_path / "pipeline_20261103.log")] == [
        "batch_generate_start"
    ]
    assert [r["event"] for r in _lines(tmp_path / "pipeline_20261104.log")] == [
        "batch_generate_complete"
    ]


def test_lines_are_appended_across_instances(tmp_path: Path) -> None:
    """A restarted server appends to today's file instead of truncating it."""
    wall = Wall(datetime(2026, 11, 3, 12, 0, tzinfo=CST))
    PipelineLog(tmp_path, now=wall).event("batch_resumed", batch_id="a")
    PipelineLog(tmp_path, now=wall).event("batch_resumed", batch_id="b")
    assert [r["batch_id"] for r in _lines(tmp_path / "pipeline_20261103.log")] == ["a", "b"]


def test_the_documented_commands_work_as_python(tmp_path: Path) -> None:
    """grep "batch_", and the two jq queries of SPEC section 6, give the expected answers."""
    log = PipelineLog(tmp_path, now=Wall(datetime(2026, 11, 3, 12, 0, tzinfo=CST)))
    _write_batch(log)
    text = (tmp_path / "pipeline_20261103.log").read_text(encoding="utf-8").splitlines()

    # Every line carries "batch_id", so grep "batch_" shows the batch's whole story.
    batch_events = [json.loads(line)["event"] for line in text if "batch_" in line]
    assert batch_events[0] == "batch_generate_start"
    assert batch_events[-1] == "batch_generate_complete"
    assert len(batch_events) == 6
    [complete] = [json.loads(line) for line in text if "batch_generate_complete" in line]
    summary = complete["summary"]
    rate = summary["successful"] / summary["total_slides"] * 100
    assert (summary["total_slides"], summary["successful"], summary["failed"], rate) == (
        4,
        3,
        1,
        75.0,
    )
    times = [
        json.loads(line)["details"]["generation_time"] for line in text if "slide_completed" in line
    ]
    assert times == [12.5, 30.25, 8.0]


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
def test_the_documented_commands_work_in_bash(tmp_path: Path) -> None:
    """The three commands of SPEC section 6 run verbatim in bash on today's real log."""
    log = PipelineLog(tmp_path / "logs")  # the real clock: the commands use $(date +%Y%m%d)
    _write_batch(log)
    log.close()

    def run(command: str) -> str:
        done = subprocess.run(
            ["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, check=True
        )
        return done.stdout

    grep_out = run('grep "batch_" logs/pipeline_$(date +%Y%m%d).log')
    events = [json.loads(line)["event"] for line in grep_out.splitlines()]
    assert events[0] == "batch_generate_start"
    assert events[-1] == "batch_generate_complete"
    summary = run(
        'grep "batch_generate_complete" logs/pipeline_$(date +%Y%m%d).log | jq \'.summary | '
        "{total_slides, successful, failed, success_rate: (.successful/.total_slides*100)}'"
    )
    assert json.loads(summary) == {
        "total_slides": 4,
        "successful": 3,
        "failed": 1,
        "success_rate": 75,
    }
    times = run(
        "grep \"slide_completed\" logs/pipeline_$(date +%Y%m%d).log | jq '.details.generation_time'"
    )
    assert times.split() == ["12.5", "30.25", "8"]


def test_a_secret_never_reaches_a_line(tmp_path: Path) -> None:
    """A configured secret passed anywhere (field, details, nested, a key, an error) is masked."""
    secret = "sk-or-v1-0123456789abcdef"
    log = PipelineLog(tmp_path, now=Wall(datetime(2026, 11, 3, tzinfo=CST)), secrets=[secret])
    log.event(
        "slide_failed",
        batch_id="b1",
        error=f"401 from upstream: bad key {secret}",
        details={"headers": {"Authorization": f"Bearer {secret}"}, secret: [secret]},
        summary={"exc": ValueError(secret)},
    )
    text = (tmp_path / "pipeline_20261103.log").read_text(encoding="utf-8")
    assert secret not in text
    record = json.loads(text)
    assert record["error"] == "401 from upstream: bad key ****"
    assert record["details"]["headers"]["Authorization"] == "Bearer ****"


def test_reserved_keys_cannot_be_overwritten_by_fields(tmp_path: Path) -> None:
    """A field named "timestamp" is kept aside instead of replacing the real timestamp."""
    log = PipelineLog(tmp_path, now=Wall(datetime(2026, 11, 3, tzinfo=CST)))
    log.event("batch_retry", timestamp="yesterday", level="loud")
    [record] = _lines(tmp_path / "pipeline_20261103.log")
    assert record["timestamp"].startswith("2026-11-03T00:00:00")
    assert record["field_timestamp"] == "yesterday"
    assert record["level"] == "info"


def test_concurrent_writers_never_interleave(tmp_path: Path) -> None:
    """Eight threads writing 200 events each leave 1,600 whole JSON lines."""
    log = PipelineLog(tmp_path, now=Wall(datetime(2026, 11, 3, tzinfo=CST)))

    def work(n: int) -> None:
        for i in range(200):
            log.event("slide_completed", batch_id=f"b{n}", details={"i": i, "pad": "x" * 500})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = _lines(tmp_path / "pipeline_20261103.log")
    assert len(records) == 1600
    assert {r["batch_id"] for r in records} == {f"b{n}" for n in range(8)}


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_is_reported_once_and_never_raises(tmp_path: Path) -> None:
    """Writes to a full device do not raise; stderr hears about it once, then recovery works."""
    wall = Wall(datetime(2026, 11, 3, tzinfo=CST))
    (tmp_path / "pipeline_20261103.log").symlink_to("/dev/full")
    stderr = io.StringIO()
    log = PipelineLog(tmp_path, now=wall, stderr=stderr)
    for _ in range(3):
        log.event("slide_completed", batch_id="b1")
    assert stderr.getvalue().count("cannot write pipeline log") == 1
    wall.moment += timedelta(days=1)
    log.event("slide_completed", batch_id="b2")
    assert [r["batch_id"] for r in _lines(tmp_path / "pipeline_20261104.log")] == ["b2"]


def test_an_unwritable_log_dir_never_raises(tmp_path: Path) -> None:
    """A log dir that is a plain file leaves the caller unharmed."""
    blocker = tmp_path / "logs"
    blocker.write_text("not a directory")
    stderr = io.StringIO()
    log = PipelineLog(blocker, now=Wall(datetime(2026, 11, 3, tzinfo=CST)), stderr=stderr)
    log.event("batch_generate_start", batch_id="b1")
    assert "cannot write pipeline log" in stderr.getvalue()


def test_a_log_dir_removed_while_running_is_made_again(tmp_path: Path) -> None:
    """The folder is made at the first line and again at the next line after it was removed."""
    folder = tmp_path / "logs" / "nested"
    log = PipelineLog(folder, now=Wall(datetime(2026, 11, 3, tzinfo=CST)))
    log.event("batch_generate_start", batch_id="b1")
    shutil.rmtree(tmp_path / "logs")
    log.event("batch_generate_start", batch_id="b2")
    assert [r["batch_id"] for r in _lines(folder / "pipeline_20261103.log")] == ["b2"]
