"""Atomic file writes whose final mode follows the user's umask.

``tempfile.mkstemp`` creates files 0600 whatever the umask says, so a file renamed from it
into place kept that mode: exports came out 0600 while copied images were 0644. Here the
temporary file is opened with mode 0666 and the kernel applies the umask, exactly as for
any file the user's tools create.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

_MODE = 0o666
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


@contextlib.contextmanager
def atomic_write(path: Path, *, temp_prefix: str | None = None) -> Iterator[BinaryIO]:
    """Write ``path`` through a temporary file in the same folder, renamed into place on success.

    Readers see the old file or the whole new one, never a partial one; on any error the
    temporary file is removed and ``path`` is untouched.
    """
    prefix = temp_prefix if temp_prefix is not None else f".{path.name}."
    temp = path.parent / f"{prefix}{secrets.token_hex(6)}.part"
    handle = os.open(temp, _FLAGS, _MODE)
    try:
        with os.fdopen(handle, "wb") as out:
            yield out
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
