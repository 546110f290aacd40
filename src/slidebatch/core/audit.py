"""Audit records: who did what to which batch or key, when, and how it ended."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from slidebatch.errors import (
    AuthError,
    Conflict,
    InputError,
    NotFound,
    QuotaExceeded,
    SlidebatchError,
)


class AuditAction(StrEnum):
    BATCH_CREATE = "batch.create"
    BATCH_READ = "batch.read"
    BATCH_CANCEL = "batch.cancel"
    BATCH_RETRY = "batch.retry"
    BATCH_REGENERATE = "batch.regenerate"
    BATCH_PICK = "batch.pick"  # a slide's candidate chosen
    BATCH_DELETE = "batch.delete"
    BATCH_EXPORT = "batch.export"
    KEY_CREATE = "key.create"
    KEY_REVOKE = "key.revoke"
    KEY_LIST = "key.list"
    PROJECT_SAVE = "project.save"
    PROJECT_DELETE = "project.delete"
    TEMPLATE_SAVE = "template.save"
    TEMPLATE_UPDATE = "template.update"
    CONFIG_SAVE = "config.save"
    CONFIG_RESET = "config.reset"


class AuditOutcome(StrEnum):
    OK = "ok"
    DENIED = "denied"  # no, wrong or revoked key
    NOT_FOUND = "not_found"  # unknown, or another key's (never say which)
    OVER_QUOTA = "over_quota"
    INVALID = "invalid"  # bad input or a limit
    CONFLICT = "conflict"
    ERROR = "error"  # anything else: the operation failed on our side

    @classmethod
    def of(cls, error: BaseException | None) -> AuditOutcome:
        """The outcome an operation that raised ``error`` (``None``: it succeeded) had."""
        if error is None:
            return cls.OK
        for kind, outcome in _OUTCOMES:
            if isinstance(error, kind):
                return outcome
        return cls.ERROR

    @classmethod
    def coerce(cls, value: AuditOutcome | str) -> AuditOutcome:
        """An outcome given as itself, its value (``"ok"``) or an error class name."""
        if isinstance(value, AuditOutcome):
            return value
        try:
            return cls(value)
        except ValueError:
            pass
        for kind, outcome in _OUTCOMES:
            if value == kind.__name__ or any(value == sub.__name__ for sub in _subclasses(kind)):
                return outcome
        return cls.ERROR


def _subclasses(kind: type) -> list[type]:
    found: list[type] = list(kind.__subclasses__())
    for sub in list(found):
        found.extend(_subclasses(sub))
    return found


_OUTCOMES: tuple[tuple[type[SlidebatchError], AuditOutcome], ...] = (
    (AuthError, AuditOutcome.DENIED),
    (NotFound, AuditOutcome.NOT_FOUND),
    (QuotaExceeded, AuditOutcome.OVER_QUOTA),
    (InputError, AuditOutcome.INVALID),
    (Conflict, AuditOutcome.CONFLICT),
)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One audited operation. ``key_id`` identifies the key; the key itself is never kept."""

    at: datetime
    action: AuditAction
    outcome: AuditOutcome
    key_id: str | None = None
    client: str = ""
    target: str = ""
    request_id: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def as_line(self) -> dict[str, object]:
        """The event as one audit line (``audit_YYYYMMDD.log``, ``slidebatch audit --json``)."""
        return {
            "time": self.at.isoformat(timespec="milliseconds"),
            "key_id": self.key_id,
            "client": self.client,
            "action": str(self.action),
            "target": self.target,
            "outcome": str(self.outcome),
            "request_id": self.request_id,
            "detail": self.detail,
        }
