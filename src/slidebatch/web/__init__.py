"""The browser page: static files served by ``slidebatch serve`` at ``/`` (no build step)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def static_dir() -> Path:
    """The directory holding ``index.html``, ``app.js`` and the other page assets.

    Resolved through the installed package, so a wheel install serves the same files as a
    source checkout; the package is a plain directory (not zipped), hence a real ``Path``.
    """
    return Path(str(files("slidebatch.web") / "static"))
