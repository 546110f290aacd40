"""``slidebatch keys create|list|revoke``: manage the API keys of a server.

The key is printed once, on stdout alone (``KEY=$(slidebatch keys create --name ci)``);
the notice goes to stderr. Every key operation is audited like an API call, client ``cli``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import typer

from slidebatch.cli.group import Group
from slidebatch.cli.output import EXIT_FAILED, err_console, fail
from slidebatch.core.access import ApiKey, Role
from slidebatch.core.audit import AuditAction, AuditOutcome
from slidebatch.core.quota import Quotas
from slidebatch.errors import NotFound, SlidebatchError

if TYPE_CHECKING:  # imported where used: `slidebatch --help` loads no database or settings
    from slidebatch.config import Settings
    from slidebatch.observability.audit import AuditLog
    from slidebatch.storage.keys import KeyRepository

CLI_CLIENT = "cli"
_T = TypeVar("_T")

keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True, cls=Group)


def _run(work: Callable[[Settings, KeyRepository, AuditLog], Awaitable[_T]]) -> _T:
    """Open the configured database, run ``work``, close; errors become one clear line."""
    from slidebatch.config import load_settings
    from slidebatch.observability.audit import AuditLog
    from slidebatch.observability.pipeline_log import PipelineLog
    from slidebatch.observability.scrub import settings_secrets
    from slidebatch.storage.database import Database
    from slidebatch.storage.keys import KeyRepository

    async def main() -> _T:
        settings = load_settings()
        secrets = settings_secrets(settings)
        log = PipelineLog(settings.log_dir, secrets=secrets)
        database = await Database.open(settings.effective_database_url, log=log)
        try:
            audit = AuditLog(settings.log_dir, database, secrets=secrets, log=log)
            return await work(settings, KeyRepository.on(database), audit)
        finally:
            await database.close()
            log.close()

    try:
        return asyncio.run(main())
    except NotFound as exc:
        fail(str(exc), EXIT_FAILED)
    except SlidebatchError as exc:
        fail(str(exc))


def _key_json(key: ApiKey) -> dict[str, object]:
    return {
        "id": key.id,
        "name": key.name,
        "role": str(key.role),
        "created_at": key.created_at.isoformat(),
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
        "max_concurrent_batches": key.quotas.max_concurrent_batches,
        "max_slides_per_day": key.quotas.max_slides_per_day,
        "max_spend_per_day": key.quotas.max_spend_per_day,
    }


@keys_app.command("create")
def create(
    name: str = typer.Option(..., "--name", help="Who or what the key is for."),
    role: Role = typer.Option(Role.USER, "--role", help="admin sees every batch; user its own."),
    max_concurrent: int | None = typer.Option(
        None, "--max-concurrent", min=1, help="Batches queued or running at once."
    ),
    max_slides_per_day: int | None = typer.Option(
        None, "--max-slides-per-day", min=1, help="Slides per day (server's local day)."
    ),
    max_spend_per_day: float | None = typer.Option(
        None, "--max-spend-per-day", min=0.0, help="Reported upstream cost per day, USD."
    ),
) -> None:
    """Create a key and print it once. Unset quotas use the server's KEY_DEFAULT_* settings."""
    quotas = Quotas(max_concurrent, max_slides_per_day, max_spend_per_day)

    async def work(_: Settings, keys: KeyRepository, audit: AuditLog) -> tuple[ApiKey, str]:
        key, secret = await keys.create(name=name, role=role, quotas=quotas)
        await audit.record(
            AuditAction.KEY_CREATE, client=CLI_CLIENT, target=key.id, detail={"role": str(role)}
        )
        return key, secret

    key, secret = _run(work)
    err_console.print(
        f"Created key {key.id} ({key.name}, {key.role}). Store it now: it is not shown again.",
        highlight=False,
    )
    typer.echo(secret)


@keys_app.command("list")
def list_keys(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List every key (never the key itself): id, name, role, quotas, revoked or not."""

    async def work(_: Settings, keys: KeyRepository, audit: AuditLog) -> list[ApiKey]:
        found = await keys.list()
        await audit.record(AuditAction.KEY_LIST, client=CLI_CLIENT, detail={"count": len(found)})
        return found

    found = _run(work)
    if as_json:
        typer.echo(json.dumps([_key_json(k) for k in found], indent=2, ensure_ascii=False))
        return
    if not found:
        err_console.print("No keys: a loopback server runs without authentication.")
        return
    for key in found:
        q = key.quotas
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        typer.echo(
            f"{key.id}  {key.role:<5}  {state:<22}"
            f"  concurrent={_or_default(q.max_concurrent_batches)}"
            f"  slides/day={_or_default(q.max_slides_per_day)}"
            f"  spend/day={_or_default(q.max_spend_per_day)}  {key.name}"
        )


def _or_default(value: float | None) -> str:
    return "default" if value is None else f"{value:g}"


@keys_app.command("revoke")
def revoke(
    key_id: str = typer.Argument(..., help="The key's id (from keys list).", metavar="ID"),
) -> None:
    """Revoke a key: every later request with it is refused (401)."""

    async def work(_: Settings, keys: KeyRepository, audit: AuditLog) -> ApiKey:
        try:
            key = await keys.revoke(key_id)
        except NotFound:
            await audit.record(
                AuditAction.KEY_REVOKE,
                outcome=AuditOutcome.NOT_FOUND,
                client=CLI_CLIENT,
                target=key_id,
            )
            raise
        await audit.record(AuditAction.KEY_REVOKE, client=CLI_CLIENT, target=key.id)
        return key

    key = _run(work)
    typer.echo(f"revoked {key.id} ({key.name})")


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
