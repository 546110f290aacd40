"""``slidebatch gate show|clear``: a fleet gate's holds, and lifting them by hand.

A 402 (no credits) or a spent daily quota parks a fleet's gate scope in PostgreSQL
(``gate_scopes``) until its reset, or for ``UPSTREAM_NO_CREDIT_RECHECK_SECONDS`` when no
reset is known, and restarts keep it. Once the cause is fixed, ``gate clear`` lets the
fleet start again at once (``fleet/gate_admin.py``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import typer

from slidebatch.cli.group import Group
from slidebatch.cli.output import EXIT_FAILED, err_console, fail
from slidebatch.errors import SlidebatchError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from slidebatch.fleet.gate_admin import ScopeHolds

_T = TypeVar("_T")

gate_app = typer.Typer(
    help="Show or clear a fleet gate's holds (quota parks, pauses).",
    no_args_is_help=True,
    cls=Group,
)


def _run(work: Callable[[AsyncEngine], Awaitable[_T]]) -> _T:
    """Open the fleet's PostgreSQL database, run ``work`` on its engine, close."""
    from slidebatch.config import load_settings
    from slidebatch.storage.database import Database

    async def main() -> _T:
        settings = load_settings()
        if settings.database_url is None or "postgresql" not in settings.database_url:
            fail(
                "only a fleet keeps its gate in the database (DATABASE_URL=postgresql://...);"
                " a single process's gate lives in memory and a restart clears it"
            )
        database = await Database.open(settings.effective_database_url)
        try:
            return await work(database.engine)
        finally:
            await database.close()

    try:
        return asyncio.run(main())
    except SlidebatchError as exc:
        fail(str(exc))


def _line(holds: ScopeHolds) -> str:
    parts = [holds.scope]
    if holds.parked_for is not None:
        parts.append(f"parked {holds.parked_for:g} s more ({holds.park_reason or 'no reason'})")
    if holds.paused_for is not None:
        parts.append(f"paused {holds.paused_for:g} s more")
    if holds.blocked_for is not None:
        parts.append(f"blocked {holds.blocked_for:g} s more")
    if len(parts) == 1:
        parts.append("open")
    return ": ".join(parts[:2]) + "".join(f"; {p}" for p in parts[2:])


def _json(holds: ScopeHolds) -> dict[str, object]:
    return {
        "scope": holds.scope,
        "parked_for": holds.parked_for,
        "park_reason": holds.park_reason,
        "paused_for": holds.paused_for,
        "blocked_for": holds.blocked_for,
    }


@gate_app.command("show")
def show(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Each gate scope of the fleet and what holds it (seconds left)."""
    from slidebatch.fleet.gate_admin import list_holds

    scopes = _run(list_holds)
    if as_json:
        typer.echo(json.dumps([_json(h) for h in scopes], indent=2))
        return
    for holds in scopes:
        typer.echo(_line(holds))
    if not scopes:
        err_console.print("No gate scope yet: no fleet process has opened one.", highlight=False)


@gate_app.command("clear")
def clear(
    scope: str | None = typer.Argument(
        None, help="The scope to clear (see `gate show`); default: every scope."
    ),
) -> None:
    """Lift the park, pause and block of a scope once its cause is fixed (credits bought,
    quota raised): workers start again at once, and slides waiting to retry are due now."""
    from slidebatch.fleet.gate_admin import clear_holds

    cleared = _run(lambda engine: clear_holds(engine, scope))
    if scope is not None and not cleared.scopes:
        fail(f"no gate scope {scope!r} (see `slidebatch gate show`)", EXIT_FAILED)
    for holds in cleared.scopes:
        typer.echo(f"cleared {_line(holds)}")
    typer.echo(f"{cleared.slides} waiting slide(s) due now")


def register(app: typer.Typer) -> None:
    app.add_typer(gate_app, name="gate")
