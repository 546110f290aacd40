"""A JSON-lines file per local day (``<prefix>_YYYYMMDD.log``), for the pipeline and audit logs.

Writing never raises into the caller: a log that cannot be written must not fail a slide or
a request. The first failure is reported on stderr once; later ones stay quiet until a write
succeeds again.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from slidebatch.observability.scrub import Scrubber


def local_now() -> datetime:
    """The wall clock, local time with its UTC offset."""
    return datetime.now().astimezone()


def _aware(moment: datetime) -> datetime:
    # An aware value keeps its own offset (tests pin a zone); a naive one is taken as local.
    return moment if moment.tzinfo is not None else moment.astimezone()


class DailyJsonLines:
    """Appends one JSON object per line to the day's file; thread-safe, flushed per line.

    The file is opened for each line (append mode) and closed again: no handle outlives a
    call, an external rotation or deletion is picked up at once, and a day change needs no
    bookkeeping. A few tens of microseconds per line is cheap next to a slide.
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

    def now(self) -> datetime:
        """The injected clock as an aware time (a naive value is taken as local)."""
        return _aware(self._now())

    def path_for(self, moment: datetime) -> Path:
        """The file that holds lines written at ``moment`` (its local date)."""
        return self.log_dir / f"{self.prefix}_{_aware(moment).strftime('%Y%m%d')}.log"

    def write(self, record: Mapping[str, Any], *, at: datetime | None = None) -> None:
        """Append ``record`` as one line to the file of ``at`` (default: now). Never raises."""
        try:
            path = self.path_for(at or self.now())
            line = json.dumps(self._scrubber.record(record), ensure_ascii=False) + "\n"
            # The scrubber ran on the structure; this catches a secret split by JSON escaping.
            line = self._scrubber.text(line) if self._scrubber else line
            with self._lock:
                # One write() of the whole line in append mode: no interleaving with other
                # processes' lines either (O_APPEND).
                with self._open(path) as handle:
                    handle.write(line)
                self._failing = False
        except Exception as exc:  # a log must never take the caller down
            self._report(exc)

    def _open(self, path: Path) -> TextIO:
        """``path`` for appending; its folder is made when it is missing (a stat per line,
        every line of every log, only to learn that the folder is still there, was a fifth
        of a line's cost)."""
        try:
            return path.open("a", encoding="utf-8")
        except FileNotFoundError:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            return path.open("a", encoding="utf-8")

    def close(self) -> None:
        """Nothing stays open between lines; kept so owners can close symmetrically."""

    def _report(self, exc: BaseException) -> None:
        with self._lock:
            already_told, self._failing = self._failing, True
        if already_told:
            return
        stream = self._stderr or sys.stderr
        try:
            message = f"slidebatch: cannot write {self.prefix} log in {self.log_dir}: {exc}"
            stream.write(self._scrubber.text(message) + "\n")
            stream.flush()
        except Exception:  # stderr itself may be gone; nothing left to tell
            pass
