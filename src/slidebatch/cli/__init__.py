"""The ``slidebatch`` command: thin. Parse, build settings and services, make one call, exit."""

from __future__ import annotations

import typer

from slidebatch import __version__
from slidebatch.cli import commands

app = typer.Typer(
    name="slidebatch",
    help="Turn a deck outline plus one style prompt into finished slide images.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain help text: rich markup mode imports a Markdown parser (~0.2 s) for every --help.
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"slidebatch {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """Turn a deck outline plus one style prompt into finished slide images."""


commands.register_all(app)


def main() -> None:
    """Entry point of the ``slidebatch`` console script.

    A database that cannot be opened (``StorageUnavailable`` out of any command that did
    not report it itself) is one line and exit 2, never a traceback.
    """
    from slidebatch.storage.errors import StorageUnavailable

    try:
        app()
    except StorageUnavailable as exc:
        from slidebatch.cli.output import EXIT_USAGE, err_console

        err_console.print(f"[bold red]error:[/] {exc}", markup=True)
        raise SystemExit(EXIT_USAGE) from None
