"""uvicorn for ``serve`` and ``worker --port``: stopped by a signal, or by a lost owner lock.

On PostgreSQL every process holds the owner lock (``storage/pg_owner.py``). When its session
ends under the process, another engine may take the database and pay slides twice beside it,
and nothing in the process can take the lock back safely; so the process shuts down as
SIGTERM shuts it down (no new connections, the requests in flight finish, the lifespan lets
the worker's requests in flight finish and store) and exits ``EXIT_OWNER_LOST``, for its
supervisor (systemd's ``Restart=``) to start it again.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from slidebatch.cli.output import EXIT_OWNER_LOST, OWNER_LOST, fail

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

# uvicorn's exit code when the lifespan fails to start (what ``uvicorn.run`` exits with)
_STARTUP_FAILURE = 3


class Server:
    """One uvicorn server; ``owner_lost`` (the app's hook) stops it like SIGTERM does."""

    def __init__(self, *, signal_exits_zero: bool = False) -> None:
        self._server: uvicorn.Server | None = None
        self.lost = False
        # uvicorn raises a SIGTERM or SIGINT again once it has shut down, so the process
        # ends by it (returncode -15); True: a clean shutdown on a signal exits 0 instead.
        self._signal_exits_zero = signal_exits_zero

    def owner_lost(self) -> None:
        """The lifespan's services saw the owner lock's session end: shut down, then fail."""
        self.lost = True
        if self._server is not None:
            self._server.should_exit = True  # what uvicorn's SIGTERM handler does

    def run(self, app: FastAPI, **options: Any) -> None:
        """Serve ``app`` until stopped; exit ``EXIT_OWNER_LOST`` if the lock was lost."""
        import uvicorn

        self._server = uvicorn.Server(uvicorn.Config(app, **options))
        # A SIGTERM or SIGINT is raised again once it has shut down (as under uvicorn.run),
        # to the handler in place before it ran: with ``signal_exits_zero`` one that
        # returns, so the process goes on to exit 0.
        with contextlib.suppress(KeyboardInterrupt), _signals_return(self._signal_exits_zero):
            self._server.run()
        if self.lost:
            fail(OWNER_LOST, EXIT_OWNER_LOST)
        if not self._server.started:
            sys.exit(_STARTUP_FAILURE)


@contextlib.contextmanager
def _signals_return(active: bool) -> Iterator[None]:
    """While in this block (if ``active``), SIGTERM and SIGINT run a handler that returns:
    uvicorn installs its own while it serves and restores these before raising again the
    signal that stopped it, which then ends nothing. The previous handlers come back after."""
    if not active:
        yield
        return
    kinds = (signal.SIGTERM, signal.SIGINT)
    previous = {kind: signal.signal(kind, _ignore) for kind in kinds}
    try:
        yield
    finally:
        for kind, handler in previous.items():
            signal.signal(kind, handler)


def _ignore(_signum: int, _frame: object) -> None:
    """A signal raised again after the shutdown it asked for: nothing more to do."""
