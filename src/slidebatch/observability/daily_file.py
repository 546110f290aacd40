"""A JSON-lines file per local day (``<prefix>_YYYYMMDD.log``), for the pipeline and audit logs.

Writing never raises into the caller: a log that cannot be written must not fail a slide or
a request. The first failure is reported on stderr once; later ones stay quiet until a write
succeeds again.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from slidebatch.observability.scrub import Scrubber

# How often (seconds of the injected clock) the open file's path is looked up again to see
# whether it was renamed away (a deletion is seen at the next line, by ``fstat``).
RECHECK_SECONDS = 1.0
_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)


def local_now() -> datetime:
    """The wall clock, local time with its UTC offset."""
    return datetime.now().astimezone()


def _aware(moment: datetime) -> datetime:
    # An aware value keeps its own offset (tests pin a zone); a naive one is taken as local.
    return moment if moment.tzinfo is not None else moment.astimezone()


class DailyJsonLines:
    """Appends one JSON object per line to the day's file; thread-safe, one ``write`` per line.

    The day's file stays open between lines (opening it per line was about a quarter of a
    status poll's CPU, on the event loop). It is opened again when a line belongs to another
    day's file (rotation by the injected clock), when the open file was deleted (checked per
    line with ``fstat``, no path lookup) and, at most once per ``RECHECK_SECONDS`` of the
    clock, when the path no longer names the open file (an external rename, as logrotate
    does), so an external rotation or deletion is picked up.
    """

    def __init__(
        self,
        log_dir: Path,
        prefix: str,
        *,
        now: Callable[[], datetime] = local_now,
        secrets: Iterable[str] = (),
        stderr: TextIO | None = None,
    ) -> None:
        self.log_dir = Path(log_dir)
        self.prefix = prefix
        self._now = now
        self._scrubber = Scrubber(secrets)
        self._stderr = stderr
        self._lock = threading.Lock()
        self._failing = False
        self._open_file: _OpenFile | None = None

    def now(self) -> datetime:
        """The injected clock as an aware time (a naive value is taken as local)."""
        return _aware(self._now())

    def path_for(self, moment: datetime) -> Path:
        """The file that holds lines written at ``moment`` (its local date)."""
        return self.log_dir / f"{self.prefix}_{_aware(moment).strftime('%Y%m%d')}.log"

    def write(self, record: Mapping[str, Any], *, at: datetime | None = None) -> None:
        """Append ``record`` as one line to the file of ``at`` (default: now). Never raises."""
        try:
            moment = at or self.now()
            path = self.path_for(moment)
            line = json.dumps(self._scrubber.record(record), ensure_ascii=False) + "\n"
            # The scrubber ran on the structure; this catches a secret split by JSON escaping.
            line = self._scrubber.text(line) if self._scrubber else line
            data = line.encode("utf-8")
            with self._lock:
                # One write() of the whole line in append mode: no interleaving with other
                # processes' lines either (O_APPEND).
                _write_all(self._file(path, moment).fd, data)
                self._failing = False
        except Exception as exc:  # a log must never take the caller down
            self._report(exc)

    def _file(self, path: Path, moment: datetime) -> _OpenFile:
        """The open file for ``path`` (under the lock): the current one while it is still
        ``path``'s, else ``path`` opened (its folder made when it is missing)."""
        current = self._open_file
        if current is not None and not current.serves(path, moment):
            self._open_file = None
            current.close()
            current = None
        if current is None:
            current = self._open_file = _OpenFile.open(path, moment, self.log_dir)
        return current

    def close(self) -> None:
        """Close the open file (an owner's shutdown); a later line opens it again."""
        with self._lock:
            current, self._open_file = self._open_file, None
        if current is not None:
            current.close()

    def _report(self, exc: BaseException) -> None:
        with self._lock:
            already_told, self._failing = self._failing, True
            # A failed file is not kept: the next line opens it afresh (a disk made free).
            current, self._open_file = self._open_file, None
        if current is not None:
            current.close()
        if already_told:
            return
        stream = self._stderr or sys.stderr
        try:
            message = f"slidebatch: cannot write {self.prefix} log in {self.log_dir}: {exc}"
            stream.write(self._scrubber.text(message) + "\n")
            stream.flush()
        except Exception:  # stderr itself may be gone; nothing left to tell
            pass


@dataclass(slots=True)
class _OpenFile:
    """One day's file held open: its descriptor, path and identity (device, inode)."""

    path: Path
    fd: int
    identity: tuple[int, int]
    checked: datetime  # when the path was last seen to name this file (the injected clock)

    @classmethod
    def open(cls, path: Path, moment: datetime, log_dir: Path) -> _OpenFile:
        """``path`` for appending; its folder is made when it is missing."""
        try:
            fd = os.open(path, _FLAGS, 0o666)
        except FileNotFoundError:
            log_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, _FLAGS, 0o666)
        stat = os.fstat(fd)
        return cls(path, fd, (stat.st_dev, stat.st_ino), moment)

    def serves(self, path: Path, moment: datetime) -> bool:
        """Whether lines for ``path`` at ``moment`` still go to this file: the same path,
        not deleted and, when last looked at ``RECHECK_SECONDS`` or more ago, still the
        file the path names."""
        if path != self.path or os.fstat(self.fd).st_nlink == 0:
            return False
        if abs((moment - self.checked).total_seconds()) < RECHECK_SECONDS:
            return True
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            return False
        self.checked = moment
        return (stat.st_dev, stat.st_ino) == self.identity

    def close(self) -> None:
        with contextlib.suppress(OSError):  # already gone; nothing to keep
            os.close(self.fd)


def _write_all(fd: int, data: bytes) -> None:
    """``data`` to ``fd``; a short write (rare on a regular file) goes on with the rest."""
    while data:
        written = os.write(fd, data)
        data = data[written:]
