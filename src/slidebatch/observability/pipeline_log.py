"""The pipeline log: ``LOG_DIR/pipeline_YYYYMMDD.log``, one JSON event per line (SPEC section 6).

Each line is ``{"timestamp", "event", "level", "batch_id", ...fields, "details", "summary"}``
so the seed's documented commands work as written::

    grep "batch_" logs/pipeline_$(date +%Y%m%d).log
    grep "batch_generate_complete" logs/pipeline_$(date +%Y%m%d).log | jq '.summary | ...'
    grep "slide_completed" logs/pipeline_$(date +%Y%m%d).log | jq '.details.generation_time'
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TextIO

from slidebatch.observability.daily_file import DailyJsonLines, local_now

RESERVED = ("timestamp", "event", "level", "batch_id", "details", "summary")
LEVELS = frozenset({"debug", "info", "warning", "error", "critical"})


class EventLog(Protocol):
    """The one way the engine, the scheduler and the API write what happened: events."""

    def event(
        self,
        name: str,
        *,
        level: str = "info",
        batch_id: str | None = None,
        details: Mapping[str, Any] | None = None,
        summary: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> None:
        """Write one event."""

    def failure(
        self, name: str, error: BaseException, *, batch_id: str | None = None, **fields: Any
    ) -> None:
        """Write one ``error`` event for an unexpected exception, with its traceback."""


def failure_fields(error: BaseException) -> dict[str, str]:
    """An exception as event fields: its type, its message and its traceback."""
    return {
        "error_type": type(error).__name__,
        "error": str(error),
        "traceback": "".join(traceback.format_exception(error)),
    }


class PipelineLog:
    """Writes pipeline events; thread-safe, never raises into the caller."""

    def __init__(
        self,
        log_dir: Path,
        *,
        now: Callable[[], datetime] = local_now,
        secrets: Iterable[str] = (),
        stderr: TextIO | None = None,
    ) -> None:
        self._file = DailyJsonLines(log_dir, "pipeline", now=now, secrets=secrets, stderr=stderr)

    @property
    def log_dir(self) -> Path:
        return self._file.log_dir

    def path_for(self, moment: datetime) -> Path:
        """The file holding the events of ``moment``'s local date."""
        return self._file.path_for(moment)

    def event(
        self,
        name: str,
        *,
        level: str = "info",
        batch_id: str | None = None,
        details: Mapping[str, Any] | None = None,
        summary: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> None:
        """Append one event line; ``fields`` become top-level keys after ``batch_id``."""
        moment = self._file.now()
        record: dict[str, Any] = {
            "timestamp": moment.isoformat(timespec="milliseconds"),
            "event": name,
            "level": level if level in LEVELS else "info",
            "batch_id": batch_id,
        }
        for key, value in fields.items():
            # A field named like a reserved key would hide the real one from grep and jq.
            record[f"field_{key}" if key in RESERVED else key] = value
        if details is not None:
            record["details"] = details
        if summary is not None:
            record["summary"] = summary
        self._file.write(record, at=moment)

    def failure(
        self, name: str, error: BaseException, *, batch_id: str | None = None, **fields: Any
    ) -> None:
        """An unexpected exception as one ``error`` event, traceback included."""
        self.event(name, level="error", batch_id=batch_id, **(fields | failure_fields(error)))

    def close(self) -> None:
        """Close the current file (the lifespan's shutdown)."""
        self._file.close()
