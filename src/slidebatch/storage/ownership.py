"""One process owns a SQLite data directory: a lock held for the process's life.

Two processes on one SQLite database would each resume the other's batches and each run
its own gate (paying twice, at twice the configured rate). So ``serve`` and ``generate``
take an exclusive ``flock`` on ``<database file>.lock`` before they open anything, and
write their pid and command into it so that a second process can say who is in the way
(cleared when they end; a data directory made only to hold the lock is removed again).
The kernel drops the lock when the process ends, however it ends (``kill -9`` included),
so a stale lock file never blocks anyone. PostgreSQL has its own lock: ``storage/pg_owner.py``.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from slidebatch.errors import ConfigError
from slidebatch.storage.urls import parse_url, sqlite_file

LOCK_SUFFIX = ".lock"


@dataclass(frozen=True, slots=True)
class Owner:
    """Who holds a data directory: what the lock file says."""

    pid: int | None
    command: str
    since: str

    @classmethod
    def parse(cls, text: str) -> Owner:
        try:
            data = json.loads(text)
            return cls(int(data["pid"]), str(data["command"]), str(data["since"]))
        except (ValueError, KeyError, TypeError):
            # Written between our open and its write, or by something else: say so.
            return cls(None, "unknown", "unknown")

    def describe(self) -> str:
        pid = "an unknown pid" if self.pid is None else f"pid {self.pid}"
        return f"{pid} ({self.command}, since {self.since})"


class DataDirInUse(ConfigError):
    """Another live process owns the data directory."""

    def __init__(self, data_dir: Path, owner: Owner) -> None:
        super().__init__(
            f"data directory {data_dir} is in use by another slidebatch process: "
            f"{owner.describe()}. Only one process may use a SQLite data directory: stop "
            "that one first, or give this one another data directory (DATA_DIR, or "
            "generate --data-dir). To run several processes on one database, use "
            "PostgreSQL (DATABASE_URL)."
        )
        self.owner = owner


def lock_path(database_url: str) -> Path | None:
    """The lock file guarding the SQLite database of ``database_url``; None for PostgreSQL."""
    database = sqlite_file(parse_url(database_url))
    if database is None:
        return None
    return database.with_name(database.name + LOCK_SUFFIX)


def current_command() -> str:
    """This process's command line, shortened to what a person recognises."""
    args = [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv else ["python"]
    if args[0] in ("__main__.py", "-m"):
        args[0] = "slidebatch"
    text = " ".join(args)
    return text if len(text) <= 200 else text[:197] + "..."


@contextmanager
def own_data_dir(database_url: str, *, command: str | None = None) -> Iterator[Path | None]:
    """Hold the data directory of ``database_url`` until the block ends.

    Raises ``DataDirInUse`` at once (no waiting) when another process holds it. Yields the
    lock file, or None when the database is not SQLite (nothing to own).
    """
    path = lock_path(database_url)
    if path is None:
        yield None
        return
    created = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Opened without truncating: the owner's record must survive a refused open.
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held for the whole block)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            f"the data directory {path.parent} cannot be used ({reason}); "
            "choose another with --data-dir or DATA_DIR"
        ) from None
    locked = False
    try:
        _lock(handle, path)
        locked = True
        _write_owner(handle, command or current_command())
        yield path
    finally:
        if locked:
            _release(handle, path, created)
        handle.close()  # closing the descriptor releases the flock


def _release(handle: IO[str], path: Path, created: list[Path]) -> None:
    """Leave no owner record behind (the process is gone), and no folder this block made
    for nothing: a run stopped before it opened its database (Ctrl-C in its first second)
    leaves the data directory as it found it."""
    try:
        handle.seek(0)
        handle.truncate()
        handle.flush()
        if created and [p.name for p in path.parent.iterdir()] == [path.name]:
            path.unlink()
            for folder in created:  # innermost first
                folder.rmdir()
    except OSError:
        pass  # best effort: an empty lock file or folder misleads no one


def _lock(handle: IO[str], path: Path) -> None:
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise ConfigError(f"cannot lock {path}: {exc.strerror}") from exc
        handle.seek(0)
        raise DataDirInUse(path.parent, Owner.parse(handle.read())) from None


def _write_owner(handle: IO[str], command: str) -> None:
    record = {
        "pid": os.getpid(),
        "command": command,
        "since": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps(record) + "\n")
    handle.flush()
