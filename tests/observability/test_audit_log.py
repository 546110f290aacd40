from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from slidebatch.core.access import Principal, Role
from slidebatch.core.audit import AuditAction, AuditEvent, AuditOutcome
from slidebatch.errors import AuthError, LimitExceeded, NotFound, QuotaExceeded
from slidebatch.observability.audit import AuditLog
from slidebatch.observability.context import reset_request_id, set_request_id
from slidebatch.storage.audit import AuditRepository
from slidebatch.storage.database import Database
from slidebatch.testing.memory_log import MemoryLog

CST = timezone(timedelta(hours=8))
ALICE = Principal(key_id="a1b2c3d4e5f6", name="alice", role=Role.USER)


class Wall:
    """A wall clock that steps one second per reading."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        self.moment += timedelta(seconds=1)
        return self.moment


class MemoryStore:
    """An AuditStore that keeps events in a list (or fails on demand)."""

    def __init__(self, *, broken: bool = False) -> None:
        self.events: list[AuditEvent] = []
        self.queued: list[AuditEvent] = []  # the events given to ``queue`` (written behind)
        self.broken = broken

    async def record(self, event: AuditEvent) -> None:
        if self.broken:
            raise RuntimeError("database is gone")
        self.events.append(event)

    async def queue(self, event: AuditEvent) -> asyncio.Future[None]:
        """Queued events are kept at once; the future fails later when ``broken``."""
        self.queued.append(event)
        stored: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.broken:
            stored.set_exception(RuntimeError("database is gone"))
        else:
            self.events.append(event)
            stored.set_result(None)
        return stored


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def test_a_line_has_the_documented_fields(tmp_path: Path) -> None:
    """An audit line holds time, key_id, client, action, target, outcome, request_id, detail."""
    store = MemoryStore()
    audit = AuditLog(tmp_path, store, now=Wall(datetime(2026, 11, 3, 10, 0, tzinfo=CST)))
    token = set_request_id("req-123")
    try:
        await audit.record(
            AuditAction.BATCH_CANCEL, principal=ALICE, client="10.0.0.7", target="b1"
        )
    finally:
        reset_request_id(token)
    [line] = _lines(tmp_path / "audit_20261103.log")
    assert line == {
        "time": "2026-11-03T10:00:01.000+08:00",
        "key_id": "a1b2c3d4e5f6",
        "client": "10.0.0.7",
        "action": "batch.cancel",
        "target": "b1",
        "outcome": "ok",
        "request_id": "req-123",
        "detail": {},
    }
    assert store.events[0].action is AuditAction.BATCH_CANCEL


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (None, "ok"),
        (AuthError("no key"), "denied"),
        (NotFound("no batch"), "not_found"),
        (QuotaExceeded("slow down", retry_after=5), "over_quota"),
        (LimitExceeded("too long", limit_name="MAX_TITLE_CHARS", limit=3), "invalid"),
        (RuntimeError("boom"), "error"),
    ],
)
async def test_operation_records_the_outcome_and_reraises(
    tmp_path: Path, error: Exception | None, outcome: str
) -> None:
    """The operation() block is audited with the outcome its exception maps to; it re-raises."""
    audit = AuditLog(tmp_path, now=Wall(datetime(2026, 11, 3, tzinfo=CST)))

    async def run() -> None:
        async with audit.operation(AuditAction.BATCH_CREATE, principal=ALICE, client="::1") as note:
            note.target = "new-batch"
            note.detail["slides"] = 3
            if error is not None:
                raise error

    if error is None:
        await run()
    else:
        with pytest.raises(type(error)):
            await run()
    [line] = _lines(tmp_path / "audit_20261103.log")
    assert (line["outcome"], line["target"], line["detail"]) == (
        outcome,
        "new-batch",
        {"slides": 3},
    )


async def test_every_action_is_recorded(tmp_path: Path) -> None:
    """Each batch, key, project, template and config action gets its own line."""
    audit = AuditLog(tmp_path, now=Wall(datetime(2026, 11, 3, tzinfo=CST)))
    for action in AuditAction:
        await audit.record(action, principal=ALICE, client="127.0.0.1", target="t")
    assert [line["action"] for line in _lines(tmp_path / "audit_20261103.log")] == [
        "batch.create",
        "batch.read",
        "batch.cancel",
        "batch.retry",
        "batch.regenerate",
        "batch.pick",
        "batch.delete",
        "batch.export",
        "key.create",
        "key.revoke",
        "key.list",
        "project.save",
        "project.delete",
        "template.save",
        "template.update",
        "config.save",
        "config.reset",
    ]


async def test_loose_arguments_are_normalised(tmp_path: Path) -> None:
    """Action and outcome as strings (an error class name too), key_id and a string detail work."""
    store = MemoryStore()
    audit = AuditLog(tmp_path, store, now=Wall(datetime(2026, 11, 3, tzinfo=CST)))
    await audit.record(
        "batch.read", outcome="NotFound", key_id="k9", client="c", target="b", detail="events"
    )
    await audit.record("batch.read", outcome="LimitExceeded")
    assert [e.outcome for e in store.events] == [AuditOutcome.NOT_FOUND, AuditOutcome.INVALID]
    assert store.events[0].key_id == "k9"
    assert store.events[0].detail == {"note": "events"}


async def test_a_secret_never_reaches_the_audit_trail(tmp_path: Path) -> None:
    """A configured secret in a target or detail is masked in the file and in the store."""
    secret = "sb_a1b2c3d4e5f6_" + "x" * 43
    store = MemoryStore()
    audit = AuditLog(tmp_path, store, now=Wall(datetime(2026, 11, 3, tzinfo=CST)), secrets=[secret])
    await audit.record(
        AuditAction.KEY_CREATE, principal=ALICE, target=secret, detail={"echo": f"key={secret}"}
    )
    assert secret not in (tmp_path / "audit_20261103.log").read_text(encoding="utf-8")
    assert secret not in repr(store.events)


async def test_a_broken_store_does_not_fail_the_operation(tmp_path: Path) -> None:
    """When the database write fails, the file still gets the line and nothing is raised."""
    audit = AuditLog(
        tmp_path, MemoryStore(broken=True), now=Wall(datetime(2026, 11, 3, tzinfo=CST))
    )
    await audit.record(AuditAction.BATCH_DELETE, principal=ALICE, target="b1")
    assert _lines(tmp_path / "audit_20261103.log")[0]["action"] == "batch.delete"


async def test_a_broken_store_is_one_pipeline_event(tmp_path: Path) -> None:
    """The failed store write is told as the event ``audit_store_failed``, with its action."""
    log = MemoryLog()
    audit = AuditLog(
        tmp_path, MemoryStore(broken=True), now=Wall(datetime(2026, 11, 3, tzinfo=CST)), log=log
    )
    await audit.record(AuditAction.BATCH_DELETE, principal=ALICE, target="b1")
    [told] = log.events
    assert (told.name, told.level, told.fields["action"]) == (
        "audit_store_failed",
        "error",
        "batch.delete",
    )
    assert told.fields["error"] == "database is gone"


async def test_the_database_keeps_events_for_querying(database_url: str, tmp_path: Path) -> None:
    """Events land in audit_events (given the Database) and query filters by time, key, action."""
    db = await Database.open(database_url)
    try:
        wall = Wall(datetime(2026, 11, 3, tzinfo=UTC))
        audit = AuditLog(tmp_path, db, now=wall)
        bob = Principal(key_id="b0b0b0b0b0b0", name="bob", role=Role.USER)
        await audit.record(AuditAction.BATCH_CREATE, principal=ALICE, client="c", target="b1")
        await audit.record(AuditAction.BATCH_READ, principal=bob, client="c", target="b2")
        await audit.record(
            AuditAction.BATCH_READ,
            principal=ALICE,
            target="b1",
            outcome=AuditOutcome.NOT_FOUND,
            detail={"why": "gone"},
        )
        await db.commits.wait_idle()  # reads are written behind
        repo = AuditRepository.on(db)
        everything = await repo.query(limit=10)
        assert [e.target for e in everything] == ["b1", "b2", "b1"]  # newest first
        assert everything[0].outcome is AuditOutcome.NOT_FOUND
        assert everything[0].detail == {"why": "gone"}
        assert everything[0].at.tzinfo is not None
        assert [e.action for e in await repo.query(key_id=ALICE.key_id)] == [
            AuditAction.BATCH_READ,
            AuditAction.BATCH_CREATE,
        ]
        assert len(await repo.query(action="batch.read")) == 2
        assert len(await repo.query(since=datetime(2026, 11, 3, 0, 0, 2, tzinfo=UTC))) == 2
        assert len(await repo.query(limit=1)) == 1
    finally:
        await db.close()


async def test_a_read_is_written_behind_and_a_mutation_waits(tmp_path: Path) -> None:
    """batch.read goes to the store's queue (write-behind); every other action to ``record``."""
    store = MemoryStore()
    audit = AuditLog(tmp_path, store, now=Wall(datetime(2026, 11, 3, tzinfo=CST)))
    await audit.record(AuditAction.BATCH_READ, principal=ALICE, target="b1")
    await audit.record(AuditAction.BATCH_CANCEL, principal=ALICE, target="b1")
    assert [e.action for e in store.queued] == [AuditAction.BATCH_READ]
    assert [e.action for e in store.events] == [AuditAction.BATCH_READ, AuditAction.BATCH_CANCEL]


async def test_a_read_row_that_fails_later_is_one_pipeline_event(tmp_path: Path) -> None:
    """A row written behind whose commit fails is told as ``audit_store_failed``, not lost
    silently; the read itself already had its answer and its file line."""
    log = MemoryLog()
    audit = AuditLog(
        tmp_path, MemoryStore(broken=True), now=Wall(datetime(2026, 11, 3, tzinfo=CST)), log=log
    )
    await audit.record(AuditAction.BATCH_READ, principal=ALICE, target="b1")
    await asyncio.sleep(0)  # the commit's outcome is heard on the next turn of the loop
    [told] = log.events
    assert (told.name, told.fields["action"], told.fields["error"]) == (
        "audit_store_failed",
        "batch.read",
        "database is gone",
    )
    assert _lines(tmp_path / "audit_20261103.log")[0]["action"] == "batch.read"
