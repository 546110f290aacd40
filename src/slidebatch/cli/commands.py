"""Which command modules make up the CLI. Each module has ``register(app)``."""

from __future__ import annotations

import importlib

import typer

# One line per command module; a module owns its commands and their options.
COMMAND_MODULES = (
    "slidebatch.cli.audit_cmd",
    "slidebatch.cli.bench_cmd",
    "slidebatch.cli.config_cmd",
    "slidebatch.cli.export_cmd",
    "slidebatch.cli.fake_upstream_cmd",
    "slidebatch.cli.generate",
    "slidebatch.cli.keys_cmd",
    "slidebatch.cli.serve_cmd",
)


def register_all(app: typer.Typer) -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)
