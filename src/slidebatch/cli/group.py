"""The command group every ``slidebatch`` group uses: an absent ``--help`` stays cheap.

Typer (0.2x, with its own copy of click) gives the help flag no default, so a group that
a command line only passes through (``slidebatch generate --help`` passes through the root
group) coerces the absent flag's ``None`` through a pydantic ``TypeAdapter``: importing
pydantic was half of that ``--help``'s time. With ``False`` as its default the flag stays a
plain bool, which Typer does not coerce.
"""

from __future__ import annotations

from typing import Any

import typer.core


class Group(typer.core.TyperGroup):
    """A Typer group whose ``--help`` flag defaults to ``False`` rather than ``None``."""

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None and option.default is None:
            option.default = False
        return option
