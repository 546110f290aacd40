"""The ``slidebatch`` command: thin. Parse, build settings and services, make one call, exit."""

from __future__ import annotations

import typer

from slidebatch.cli import commands

app = typer.Typer(
    name="slidebatch",
    help="Turn a deck outline plus one style prompt into finished slide images.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
commands.register_all(app)


def main() -> None:
    """Entry point of the ``slidebatch`` console script."""
    app()
