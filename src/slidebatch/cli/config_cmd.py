"""``slidebatch config show``: the effective configuration, secrets masked."""

from __future__ import annotations

import json

import typer

from slidebatch.cli.group import Group
from slidebatch.cli.output import fail

config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True, cls=Group)


@config_app.command("show")
def show(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print every setting as the program sees it (environment, .env, defaults)."""
    from slidebatch.config import load_settings
    from slidebatch.errors import ConfigError

    try:
        settings = load_settings()
    except ConfigError as exc:
        fail(str(exc))
    shown = settings.masked()
    if as_json:
        typer.echo(json.dumps(shown, indent=2, ensure_ascii=False))
        return
    width = max(len(k) for k in shown)
    for key, value in shown.items():
        typer.echo(f"{key:<{width}}  {'' if value is None else value}")


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
