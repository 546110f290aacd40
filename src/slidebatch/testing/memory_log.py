"""An ``EventLog`` that keeps its events in a list, for tests that read what was logged."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from slidebatch.observability.pipeline_log import failure_fields


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    name: str
    level: str
    batch_id: str | None
    fields: Mapping[str, Any]


@dataclass(slots=True)
class MemoryLog:
    """Every event written, in order."""

    events: list[LoggedEvent] = field(default_factory=list)

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
        extra = {"details": details or {}, "summary": summary or {}}
        self.events.append(LoggedEvent(name, level, batch_id, fields | extra))

    def failure(
        self, name: str, error: BaseException, *, batch_id: str | None = None, **fields: Any
    ) -> None:
        self.event(name, level="error", batch_id=batch_id, **(fields | failure_fields(error)))

    def named(self, name: str) -> list[LoggedEvent]:
        """The events called ``name``."""
        return [e for e in self.events if e.name == name]
