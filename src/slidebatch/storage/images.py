"""Slide images on disk: one folder per batch, file names made by the server only.

A name is ``p<page>-k<key>-<content hash>.<ext>``: the hash gives a regenerated image a
new name (so a cached URL never shows a stale picture), and nothing in it comes from the
client's strings. ``path`` accepts only names of that shape, so a URL cannot walk out of
the batch folder. Methods are synchronous; the engine runs them in a thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import re
import shutil
from pathlib import Path

from slidebatch.atomic_file import atomic_write
from slidebatch.errors import NotFound

_BATCH_ID = re.compile(r"^[0-9a-f]{32}$")
_FILE_NAME = re.compile(r"^p-?\d{3,}-k\d+-[0-9a-f]{12}\.(?:png|jpg|webp)$")
SUFFIXES = (".png", ".jpg", ".webp")
_COST_SUFFIX = ".cost"  # beside an image: the USD the provider reported for it


class ImageStore:
    """Image files under ``root/<batch_id>/``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def batch_dir(self, batch_id: str) -> Path:
        """The batch's folder (not created); ``ValueError`` for a malformed batch id."""
        if not _BATCH_ID.fullmatch(batch_id):
            raise ValueError(f"malformed batch id {batch_id!r}")
        return self.root / batch_id

    def write(
        self,
        batch_id: str,
        key: int,
        page_num: int,
        data: bytes,
        *,
        suffix: str = ".png",
        cost: float | None = None,
    ) -> str:
        """Store ``data`` atomically and return its file name (relative to the batch folder).

        Readers see the old state or the whole new file, never a partial one: the bytes go
        to a temporary file in the same folder, which is then renamed into place. ``cost``
        (USD, as the provider reported it) goes beside it first, in ``<name>.cost``: an
        image found on disk after a crash then still has its price (``reported_cost``).
        """
        if suffix not in SUFFIXES:
            raise ValueError(f"unsupported image suffix {suffix!r}")
        if key < 0:
            raise ValueError("slide key must not be negative")
        digest = hashlib.sha256(data).hexdigest()[:12]
        name = f"p{page_num:03d}-k{key}-{digest}{suffix}"
        folder = self.batch_dir(batch_id)
        folder.mkdir(parents=True, exist_ok=True)
        if cost is not None:  # before the image: an image on disk has its price beside it
            with atomic_write(folder / f"{name}{_COST_SUFFIX}", temp_prefix=".tmp-") as temp:
                temp.write(repr(float(cost)).encode("ascii"))
        # No fsync: a killed process loses nothing the OS already has, and SQLite's
        # synchronous=NORMAL makes the same trade for the row pointing at this file.
        with atomic_write(folder / name, temp_prefix=".tmp-") as temp:
            temp.write(data)
        return name

    def path(self, batch_id: str, file: str) -> Path:
        """Where a stored image lives; ``NotFound`` for any name the server did not make."""
        if not _BATCH_ID.fullmatch(batch_id) or not _FILE_NAME.fullmatch(file):
            raise NotFound("image not found")
        return self.root / batch_id / file

    def reported_cost(self, batch_id: str, file: str) -> float | None:
        """The cost the provider reported for a stored image (``write``), if it was kept."""
        try:
            text = (self.path(batch_id, file).parent / f"{file}{_COST_SUFFIX}").read_text("ascii")
            value = float(text)
        except (OSError, ValueError, NotFound):
            return None
        return value if math.isfinite(value) and value >= 0 else None

    def written_since(self, batch_id: str, key: int, since: float) -> tuple[str, float] | None:
        """The newest image of slide ``key`` written at or after ``since`` (epoch seconds),
        as ``(file name, mtime)``; None if there is none.

        Older files of the same slide (before a regenerate) do not count: only an image of
        the attempt that started at ``since`` is that attempt's answer.
        """
        folder = self.batch_dir(batch_id)
        found: list[tuple[float, str]] = []
        for path in folder.glob(f"p*-k{key}-*"):
            if not _FILE_NAME.fullmatch(path.name):
                continue
            try:
                mtime = path.stat().st_mtime
            except FileNotFoundError:
                continue
            if mtime >= since:
                found.append((mtime, path.name))
        if not found:
            return None
        mtime, name = max(found)
        return name, mtime

    def delete_batch(self, batch_id: str) -> None:
        """Remove the batch's folder and every file in it (nothing to do if absent)."""
        folder = self.batch_dir(batch_id)
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(folder)
