"""How the CLI reports failure: one clear line on stderr and a meaningful exit code."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

EXIT_OK = 0
EXIT_FAILED = 1  # the job ran, but not everything succeeded
EXIT_USAGE = 2  # bad input or configuration: nothing ran
EXIT_QUOTA = 3  # the upstream's quota is spent: run again after it resets to resume
# A PostgreSQL process's owner lock went with its session (storage/pg_owner.py): it stopped
# (requests in flight finished) and a restart takes the lock again. Not 3: uvicorn's own
# exit code for a failed start.
EXIT_OWNER_LOST = 4
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT): what is done is written; a re-run resumes
# What a run stopped before it submitted anything says (generate).
NOT_STARTED = "Interrupted before any slide was started: nothing paid, nothing written."
OWNER_LOST = (
    "the PostgreSQL owner lock was lost (its session ended): stopped (requests in flight"
    " finished) and exited; restart the process to take it again"
)

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", markup=True)
    raise typer.Exit(code)
