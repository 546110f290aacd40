"""Checks the CLI runs before any work: the output folder and the request's limits.

A mistake found here costs nothing; the same mistake found after rendering costs every
slide. Each check raises ``InputError`` (exit 2) with a message saying what to change.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from slidebatch.errors import InputError

if TYPE_CHECKING:
    from slidebatch.config import Settings
    from slidebatch.core.slide import BatchRequest


def check_out_dir(path: Path, *, option: str = "--out") -> None:
    """``path`` is, or can become, a folder this user can write files in.

    Writes a probe file where the real work will write later (the folder, or the nearest
    existing parent when the folder does not exist yet): permissions, read-only mounts and
    full disks all show. Creates nothing that stays: the folder is made with the first file
    written into it, so a run stopped before that leaves no empty folder behind.
    """
    check_folder_shape(path, option=option)
    # check_folder_shape made sure the nearest existing one is a folder ("." always exists).
    where = next((p for p in (path, *path.parents) if p.exists()), Path("."))
    try:
        handle, probe = tempfile.mkstemp(prefix=".slidebatch-probe-", dir=where)
        os.close(handle)
        with contextlib.suppress(OSError):
            os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError(f"{option} {path} is not a writable folder ({reason})") from None


def check_folder_shape(path: Path, *, option: str) -> None:
    """``path`` is a folder, or could be created as one: neither it nor a parent is a file.

    Creates nothing, so it can run before any other check without leaving a folder behind.
    """
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} {path} is a file; give a folder (it is created if missing)")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"{option} {path}: {parent} is a file, not a folder")
            break


def check_limits(request: BatchRequest, settings: Settings) -> None:
    """The server's limits (BATCH_MAX_SLIDES, MAX_*_CHARS) apply to the CLI too."""
    from slidebatch.core.limits import InputLimits, check_batch_request

    check_batch_request(request, InputLimits.from_settings(settings))
