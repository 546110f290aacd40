"""Which command modules make up the CLI. Each module has ``register(app)``.

A module imports what its command needs inside the command, so ``--help`` stays fast.
"""

from __future__ import annotations

import typer

from slidebatch.cli import (
    assist_cmd,
    audit_cmd,
    bench_cmd,
    config_cmd,
    export_cmd,
    fake_upstream_cmd,
    gate_cmd,
    generate_cmd,
    keys_cmd,
    serve_cmd,
    worker_cmd,
)

# One entry per command module; a module owns its commands and their options.
COMMAND_MODULES = (
    assist_cmd,
    audit_cmd,
    bench_cmd,
    config_cmd,
    export_cmd,
    fake_upstream_cmd,
    gate_cmd,
    generate_cmd,
    keys_cmd,
    serve_cmd,
    worker_cmd,
)


def register_all(app: typer.Typer) -> None:
    for module in COMMAND_MODULES:
        module.register(app)
