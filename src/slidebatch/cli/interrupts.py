"""Ctrl-C during ``slidebatch generate``: the first finishes what is paid for, the second abandons.

A request in flight is billed by the upstream whether or not we wait for its answer, so the
first Ctrl-C stops starting requests and lets those in flight land (their images and cost
recorded); a second Ctrl-C stops waiting for them. Outside the event loop's handler (before
``install`` and after ``remove``) Ctrl-C keeps Python's default behaviour.
"""

from __future__ import annotations

import asyncio
import signal
from types import TracebackType


class Interrupts:
    """Counts SIGINTs on the running loop: ``first`` and ``second`` are set as they come."""

    def __init__(self) -> None:
        self.first = asyncio.Event()
        self.second = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.used = False  # entered: the run got as far as its own Ctrl-C handling

    def press(self) -> None:
        """One Ctrl-C (the signal handler; tests call it directly)."""
        if self.first.is_set():
            self.second.set()
        self.first.set()

    def __enter__(self) -> Interrupts:
        loop = asyncio.get_running_loop()
        self.used = True
        try:
            loop.add_signal_handler(signal.SIGINT, self.press)
        except (NotImplementedError, RuntimeError, ValueError):
            return self  # no signal handlers here (not the main thread, Windows): default
        self._loop = loop
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._loop is not None:
            self._loop.remove_signal_handler(signal.SIGINT)
            self._loop = None
