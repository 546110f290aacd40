"""Is the database still the one this process opened? (for ``/readyz``)

A deleted or replaced SQLite file goes unnoticed by ``SELECT 1``: pooled connections keep
the deleted inode open and answer from it, while every restart would find an empty new
file, every batch gone and the images orphaned. So readiness also compares the file's
device and inode with those seen at open, and checks that the schema is there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# The table every other one hangs off: present means the migrations ran on this database.
SCHEMA_PROBE = "SELECT 1 FROM batches LIMIT 1"


@dataclass(frozen=True, slots=True)
class FileIdentity:
    """A file as the kernel knows it: device and inode (a new file has a new pair)."""

    path: Path
    device: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> FileIdentity:
        """``path``'s identity now (``OSError`` when it does not exist)."""
        stat = os.stat(path)
        return cls(path, stat.st_dev, stat.st_ino)

    def problem(self) -> str | None:
        """None while ``path`` is still this file; else what happened to it."""
        try:
            now = FileIdentity.of(self.path)
        except FileNotFoundError:
            return f"the SQLite file {self.path} was deleted"
        except OSError as exc:
            return f"the SQLite file {self.path} cannot be checked ({exc.strerror})"
        if (now.device, now.inode) != (self.device, self.inode):
            return f"the SQLite file {self.path} was replaced by another file"
        return None


async def schema_problem(connection: AsyncConnection) -> str | None:
    """None when the schema is present; else a short reason."""
    try:
        await connection.execute(text(SCHEMA_PROBE))
    except Exception:  # any failure here means "not our schema", never a crash
        return "the database has no slidebatch schema"
    return None
