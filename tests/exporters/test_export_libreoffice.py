"""An exported PPTX opens in another office suite: LibreOffice converts it to PDF page by page."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from pypdf import PdfReader

from slidebatch.exporters.base import ExportDeck
from slidebatch.exporters.files import write_export

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


@pytest.mark.slow
def test_libreoffice_converts_the_pptx_with_every_slide(
    make_deck: Callable[..., ExportDeck], tmp_path: Path
) -> None:
    """LibreOffice reads our PPTX: a 13.333x7.5 in page per slide, pictures shown, titles not."""
    if SOFFICE is None:
        if os.environ.get("CI"):
            pytest.fail("soffice is required when CI is set (install libreoffice-impress)")
        pytest.skip("LibreOffice (soffice) is not installed")
    pptx = write_export(make_deck(4, failed=(3,)), "pptx", tmp_path / "deck.pptx")
    out_dir = tmp_path / "converted"
    profile = (tmp_path / "lo-profile").as_uri()  # a throwaway profile: no clash with others
    completed = subprocess.run(
        [
            SOFFICE,
            f"-env:UserInstallation={profile}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(out_dir),
            str(pptx),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    converted = out_dir / "deck.pdf"
    assert converted.is_file(), completed.stderr or completed.stdout
    reader = PdfReader(converted)
    assert len(reader.pages) == 4
    box = reader.pages[0].mediabox
    assert (float(box.width), float(box.height)) == pytest.approx((960, 540), abs=1)
    # The picture is drawn (not a blank slide) and the off-slide title is not.
    # LibreOffice shares one resource dictionary between pages: at least one image, then.
    assert len(reader.pages[0].images) >= 1
    assert "Title 1" not in reader.pages[0].extract_text()
    assert "Slide 3 failed" in reader.pages[2].extract_text()
