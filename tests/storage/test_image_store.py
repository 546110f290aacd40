"""ImageStore: server-made names, atomic writes, no way out of the batch folder."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from slidebatch.errors import NotFound
from slidebatch.storage.images import ImageStore

BATCH = "0123456789abcdef0123456789abcdef"


def test_write_names_files_by_page_key_and_content(tmp_path: Path) -> None:
    """The name is p<page>-k<key>-<hash>.png; new content gets a new name, same content the same."""
    store = ImageStore(tmp_path)
    first = store.write(BATCH, 3, 3, b"one")
    assert re.fullmatch(r"p003-k3-[0-9a-f]{12}\.png", first)
    assert store.path(BATCH, first).read_bytes() == b"one"
    assert store.write(BATCH, 3, 3, b"one") == first
    second = store.write(BATCH, 3, 3, b"two")
    assert second != first
    assert store.write(BATCH, 0, 12, b"x", suffix=".jpg").startswith("p012-k0-")


def test_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    """After writes only the final files exist in the batch folder."""
    store = ImageStore(tmp_path)
    names = {store.write(BATCH, k, k + 1, bytes([k])) for k in range(5)}
    assert set(os.listdir(store.batch_dir(BATCH))) == names


def test_failed_write_keeps_the_old_file_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the rename fails, the previous image is untouched and no temp file remains."""
    store = ImageStore(tmp_path)
    name = store.write(BATCH, 1, 1, b"old")

    def broken_replace(src: str, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        store.write(BATCH, 1, 1, b"new")
    assert os.listdir(store.batch_dir(BATCH)) == [name]
    assert store.path(BATCH, name).read_bytes() == b"old"


@pytest.mark.parametrize(
    "file",
    [
        "../../etc/passwd",
        "..",
        "p001-k1-0123456789ab.png/../../x",
        "/etc/passwd",
        "p001-k1-0123456789ab.exe",
        "p001-k1-0123456789ab.png\n",
        ".tmp-abc.part",
        "p001-k1-0123456789ab.png\\..\\x",
    ],
)
def test_path_rejects_names_the_server_did_not_make(tmp_path: Path, file: str) -> None:
    """Traversal, absolute paths, other suffixes and temp files are NotFound."""
    with pytest.raises(NotFound):
        ImageStore(tmp_path).path(BATCH, file)


@pytest.mark.parametrize("batch_id", ["..", "../" + BATCH, BATCH.upper(), "abc", ""])
def test_malformed_batch_ids_never_touch_the_disk(tmp_path: Path, batch_id: str) -> None:
    """Batch ids must be 32 lowercase hex digits for every method."""
    store = ImageStore(tmp_path / "images")
    with pytest.raises(NotFound):
        store.path(batch_id, "p001-k1-0123456789ab.png")
    with pytest.raises(ValueError, match="malformed batch id"):
        store.write(batch_id, 1, 1, b"x")
    with pytest.raises(ValueError, match="malformed batch id"):
        store.delete_batch(batch_id)
    assert not (tmp_path / "images").exists()


def test_write_refuses_unknown_suffixes(tmp_path: Path) -> None:
    """Only image suffixes the server serves can be written."""
    with pytest.raises(ValueError, match="suffix"):
        ImageStore(tmp_path).write(BATCH, 1, 1, b"x", suffix=".html")


def test_delete_batch_removes_the_folder_and_tolerates_absence(tmp_path: Path) -> None:
    """delete_batch removes every file of the batch and is fine when nothing is there."""
    store = ImageStore(tmp_path)
    store.write(BATCH, 1, 1, b"x")
    other = "f" * 32
    store.write(other, 1, 1, b"y")
    store.delete_batch(BATCH)
    store.delete_batch(BATCH)
    assert not store.batch_dir(BATCH).exists()
    assert store.batch_dir(other).is_dir()
