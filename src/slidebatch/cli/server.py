"""uvicorn for ``serve`` and ``worker --port``: stopped by a signal, or by a lost owner lock.

On PostgreSQL every process holds the owner lock (``storage/pg_owner.py``). When its session
ends under the process, another engine may take the database and pay slides twice beside it,
and nothing in the process can take the lock back safely; so the process shuts down as
SIGTERM shuts it down (no new connections, the requests in flight finish, the lifespan lets
the worker's requests in flight finish and store) and exits ``EXIT_OWNER_LOST``, for its
supervisor (systemd's ``Restart=``) to start it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Iterator
from types import FrameType
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
        """Serve ``app`` until stopped; exit ``EXIT_OWNER_LOST`` if the lock was lost.

        A SIGTERM or SIGINT holds the app's engine at once (no new upstream request), then
        uvicorn shuts down as usual: the connections drain (seconds), then the lifespan lets
        the requests in flight finish. Held only at the lifespan's end, the engine went on
        starting requests while the connections drained (14 in one bench run), and the
        lifespan then cancelled them: billed, and paid again at the restart.
        """
        import uvicorn

        self._server = _holding_server(app, uvicorn.Config(app, **options))
        # A SIGTERM or SIGINT is raised again once it has shut down (as under uvicorn.run),
        # to the handler in place before it ran: with ``signal_exits_zero`` one that
        # returns, so the process goes on to exit 0.
        with contextlib.suppress(KeyboardInterrupt), _signals_return(self._signal_exits_zero):
            self._server.run()
        if self.lost:
            fail(OWNER_LOST, EXIT_OWNER_LOST)
        if not self._server.started:
            sys.exit(_STARTUP_FAILURE)


def _holding_server(app: FastAPI, config: uvicorn.Config) -> uvicorn.Server:
    """A uvicorn server whose SIGTERM or SIGINT first holds ``app``'s engine, on its loop."""
    import uvicorn

    def hold_engine() -> None:
        services = getattr(app.state, "services", None)
        if services is not None:
            services.engine.hold()

    class HoldingServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            with contextlib.suppress(RuntimeError):  # no loop running yet: nothing to hold
                asyncio.get_running_loop().call_soon_threadsafe(hold_engine)
            super().handle_exit(sig, frame)

    return HoldingServer(config)


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
