"""The ``slidebatch`` command: thin. Parse, build settings and services, make one call, exit."""

from __future__ import annotations

import typer

from slidebatch import __version__
from slidebatch.cli import commands
from slidebatch.cli.group import Group
from slidebatch.errors import SlidebatchError

app = typer.Typer(
    name="slidebatch",
    help="Turn a deck outline plus one style prompt into finished slide images.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain help text: rich markup mode imports a Markdown parser (~0.2 s) for every --help.
    rich_markup_mode=None,
    cls=Group,
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
    """Run the ``slidebatch`` command (entered through ``slidebatch.__main__``).

    A database that cannot be opened (``StorageUnavailable`` out of any command that did
    not report it itself) is one line and exit 2, never a traceback. A Ctrl-C while the
    command line is parsed, which Typer turns into a silent exit 130, says so.
    """
    try:
        app()
    except SlidebatchError as exc:
        # Imported only here: storage's errors load SQLAlchemy, which `--help` never needs.
        from slidebatch.storage.errors import StorageUnavailable

        if not isinstance(exc, StorageUnavailable):
            raise
        from slidebatch.cli.output import EXIT_USAGE, err_console

        err_console.print(f"[bold red]error:[/] {exc}", markup=True)
        raise SystemExit(EXIT_USAGE) from None
    except SystemExit as exc:
        if exc.code == 130 and _cut_by_ctrl_c(exc):
            typer.echo("Interrupted before the command started: nothing done.", err=True)
        raise


def _cut_by_ctrl_c(exc: BaseException) -> bool:
    """Whether ``exc`` comes from Typer's ``raise Exit(130) from KeyboardInterrupt`` (the
    commands' own Ctrl-C handling says what it stopped and raises no such chain)."""
    error: BaseException | None = exc
    while error is not None:
        if isinstance(error.__cause__, KeyboardInterrupt):
            return True
        error = error.__context__
    return False
