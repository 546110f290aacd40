"""``slidebatch audit``: who did what to which batch or key, newest first."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import replace
from datetime import datetime, timedelta

import typer

from slidebatch.cli.output import fail
from slidebatch.core.audit import AuditAction, AuditEvent
from slidebatch.errors import InputError, SlidebatchError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, now: datetime) -> datetime:
    """``24h`` / ``30m`` / ``7d`` back from ``now``, or an ISO date or time (naive = local)."""
    match = _DURATION.match(text)
    if match:
        return now - timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise InputError(
            f"--since {text!r} is neither a duration (24h, 30m, 7d) nor a date (2026-11-01)"
        ) from exc
    return moment if moment.tzinfo is not None else moment.astimezone()


def _event_json(event: AuditEvent) -> dict[str, object]:
    """The audit file's line for ``event``, its time in this machine's zone."""
    return replace(event, at=event.at.astimezone()).as_line()


def audit(
    since: str | None = typer.Option(
        None, "--since", help="24h, 30m, 7d, or a date/time such as 2026-11-01."
    ),
    key: str | None = typer.Option(None, "--key", help="Only this key id."),
    action: AuditAction | None = typer.Option(None, "--action", help="Only this action."),
    limit: int = typer.Option(200, "--limit", min=1, max=10_000, help="At most this many."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """Show audited operations (batches and keys), newest first."""
    from slidebatch.config import load_settings
    from slidebatch.storage.audit import AuditRepository
    from slidebatch.storage.database import Database

    settings = load_settings()
    try:
        start = parse_since(since, datetime.now().astimezone()) if since else None
    except SlidebatchError as exc:
        fail(str(exc))
    stored = settings.data_dir / "slidebatch.db"
    if settings.database_url is None and not stored.is_file():
        # Reading must not leave an empty database (and logs/) in whatever folder it ran in.
        fail(
            f"no database at {stored}: run `slidebatch audit` where `slidebatch serve` runs, "
            "or set DATA_DIR or DATABASE_URL to the server's"
        )

    async def main() -> list[AuditEvent]:
        database = await Database.open(settings.effective_database_url)
        try:
            repo = AuditRepository.on(database)
            return await repo.query(
                since=start, key_id=key, action=str(action) if action else None, limit=limit
            )
        finally:
            await database.close()

    try:
        events = asyncio.run(main())
    except SlidebatchError as exc:
        fail(str(exc))
    if not events and not as_json:
        typer.echo("no audited operations match", err=True)
    for event in events:
        if as_json:
            typer.echo(json.dumps(_event_json(event), ensure_ascii=False))
            continue
        typer.echo(
            f"{event.at.astimezone():%Y-%m-%d %H:%M:%S}  {event.action:<16}  {event.outcome:<10}  "
            f"key={event.key_id or '-':<12}  client={event.client or '-'}  "
            f"target={event.target or '-'}  request={event.request_id or '-'}"
        )


def register(app: typer.Typer) -> None:
    app.command("audit")(audit)
