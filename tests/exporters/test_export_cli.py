"""``slidebatch export DIR``: files written, clear one-line errors with exit code 2."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

from pptx import Presentation
from pypdf import PdfReader
from typer.testing import CliRunner

from slidebatch.cli import app


def generate_dir(tmp_path: Path, make_image: Callable[..., Path], *, failed: int = 0) -> Path:
    """A directory shaped like `slidebatch generate` output: images and manifest.json."""
    results = []
    for page in (1, 2, 3):
        ok = page != failed
        if ok:
            make_image(f"{page:02d}-s.png")
        results.append(
            {"slide_id": str(page), "page_num": page, "type": "content", "title": f"S{page}",
             "file": f"{page:02d}-s.png" if ok else None, "status": "done" if ok else "error",
             "error_message": None if ok else "rate limited too often"}
        )  # fmt: skip
    manifest = {"title": "报告 deck", "aspect_ratio": "16:9", "results": results}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return tmp_path


def test_exports_every_format_into_the_directory(
    tmp_path: Path, make_image: Callable[..., Path]
) -> None:
    """Repeated --format writes one file per format next to the images, named from the title."""
    directory = generate_dir(tmp_path, make_image, failed=2)
    result = CliRunner().invoke(app, ["export", str(directory), "-f", "pptx", "-f", "pdf,zip"])
    assert result.exit_code == 0, result.output
    assert len(Presentation(str(directory / "报告 deck.pptx")).slides) == 3
    assert len(PdfReader(directory / "报告 deck.pdf").pages) == 3
    assert "manifest.json" in zipfile.ZipFile(directory / "报告 deck.zip").namelist()
    assert "1 without an image marked" in result.output


def test_out_file_and_omit(tmp_path: Path, make_image: Callable[..., Path]) -> None:
    """--out names the file for one format; --failed omit leaves the failed slide out."""
    directory = generate_dir(tmp_path, make_image, failed=1)
    target = tmp_path / "x" / "deck.pdf"
    result = CliRunner().invoke(
        app, ["export", str(directory), "--format", "pdf", "--out", str(target), "--failed", "omit"]
    )
    assert result.exit_code == 0, result.output
    assert len(PdfReader(target).pages) == 2
    assert not list(target.parent.glob("*.part"))


def test_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    """A missing manifest, a bad format and bad failed handling each give one line, exit 2."""
    runner = CliRunner()
    cases = [
        ["export", str(tmp_path)],
        ["export", str(tmp_path), "-f", "docx"],
        ["export", str(tmp_path), "--failed", "skip"],
        ["export", str(tmp_path / "nope")],
    ]
    for args in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, args
        assert "Traceback" not in result.output
        assert result.output.strip().startswith("error:"), result.output
        assert len(result.output.strip().splitlines()) == 1, result.output


def test_several_formats_to_an_existing_file_say_to_give_a_folder(
    tmp_path: Path, make_image: Callable[..., Path]
) -> None:
    """Two formats with --out naming an existing file: exit 2, 'give a folder', nothing written."""
    directory = generate_dir(tmp_path, make_image)
    taken = tmp_path / "x.pptx"
    taken.write_bytes(b"old")
    result = CliRunner().invoke(
        app, ["export", str(directory), "-f", "pptx", "-f", "pdf", "--out", str(taken)]
    )
    assert result.exit_code == 2, result.output
    assert "with 2 formats give a folder" in result.output
    assert taken.read_bytes() == b"old"
