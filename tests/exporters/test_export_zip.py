"""ZIP export: members, names and manifest; unpacked, it reads back as a deck."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from slidebatch.exporters.base import ExportDeck, ExportSlide, FailedSlides
from slidebatch.exporters.sources import deck_from_directory
from slidebatch.exporters.zip import ZipExporter


def export(deck: ExportDeck, failed: FailedSlides = FailedSlides.PLACEHOLDER) -> zipfile.ZipFile:
    out = io.BytesIO()
    ZipExporter().export(deck, out, failed=failed)
    out.seek(0)
    return zipfile.ZipFile(out)


def manifest(archive: zipfile.ZipFile) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(archive.read("manifest.json"))
    return data


def test_members_are_numbered_slugged_images_and_the_manifest(
    make_deck: Callable[..., ExportDeck], make_slide: Callable[..., ExportSlide]
) -> None:
    """Images are NN-<slug>.png from the titles (Chinese kept), plus manifest.json."""
    deck = make_deck(3)
    titles = ["Café: Intro!", "市场分析", "Q&A / Next steps"]
    deck = replace(
        deck, slides=tuple(replace(s, title=t) for s, t in zip(deck.slides, titles, strict=True))
    )
    archive = export(deck)
    assert archive.namelist() == [
        "01-cafe-intro.png",
        "02-市场分析.png",
        "03-q-a-next-steps.png",
        "manifest.json",
    ]
    assert archive.read("01-cafe-intro.png") == deck.slides[0].image_path.read_bytes()  # type: ignore[union-attr]


def test_manifest_has_the_generate_shape(make_deck: Callable[..., ExportDeck]) -> None:
    """The manifest carries the deck fields, counts and one result per slide with its file."""
    data = manifest(export(make_deck(3, failed=(2,))))
    assert data["batch_id"] == "batch-1"
    assert data["title"] == "Quarterly review"
    assert data["aspect_ratio"] == "16:9"
    assert data["created_at"] == "2025-03-04T05:06:07+00:00"
    assert (data["total_slides"], data["successful"], data["failed"]) == (3, 2, 1)
    files = [r["file"] for r in data["results"]]
    assert files == ["01-title-1.png", None, "03-title-3.png"]
    failed = data["results"][1]
    assert failed["status"] == "error"
    assert failed["error_message"] == "upstream refused slide 2"
    assert set(failed) >= {
        "slide_id", "page_num", "type", "title", "content_text", "visual_desc", "file",
        "image_url", "final_prompt", "status", "error_message", "generation_time",
        "attempts", "placeholder",
    }  # fmt: skip


def test_omit_leaves_failed_slides_out_of_the_manifest(
    make_deck: Callable[..., ExportDeck],
) -> None:
    """With omit handling the failed slide is neither a member nor in the manifest."""
    archive = export(make_deck(3, failed=(2,)), FailedSlides.OMIT)
    data = manifest(archive)
    assert [r["page_num"] for r in data["results"]] == [1, 3]
    assert archive.namelist() == ["01-title-1.png", "02-title-3.png", "manifest.json"]


def test_unreadable_done_slide_is_recorded_as_failed(make_deck: Callable[..., ExportDeck]) -> None:
    """A 'done' slide whose file is garbage gets file null, status error and a reason."""
    deck = make_deck(1)
    deck.slides[0].image_path.write_bytes(b"nope")  # type: ignore[union-attr]
    [result] = manifest(export(deck))["results"]
    assert result["file"] is None
    assert result["status"] == "error"
    assert "unreadable" in result["error_message"]


def test_unpacked_zip_reads_back_as_the_same_deck(
    make_deck: Callable[..., ExportDeck], tmp_path: Path
) -> None:
    """Extracting the ZIP gives a directory deck_from_directory reads: same slides, same images."""
    deck = make_deck(3, failed=(3,))
    target = tmp_path / "unpacked"
    export(deck).extractall(target)
    again = deck_from_directory(target)
    assert again.title == deck.title
    assert again.aspect_ratio == deck.aspect_ratio
    assert again.created_at == deck.created_at
    assert [s.title for s in again.slides] == [s.title for s in deck.slides]
    assert [s.status for s in again.slides] == ["done", "done", "error"]
    assert again.slides[0].image_path is not None
    assert again.slides[0].image_path.read_bytes() == deck.slides[0].image_path.read_bytes()  # type: ignore[union-attr]
    assert again.slides[2].image_path is None


def test_a_webp_slide_keeps_its_bytes_and_type_in_the_zip(
    make_deck: Callable[..., ExportDeck], make_image: Callable[..., Path]
) -> None:
    """A WebP slide is stored as the upstream drew it, named .webp like its output-folder file."""
    deck = make_deck(1)
    webp = make_image("answer.webp", fmt="WEBP")
    deck = replace(deck, slides=(replace(deck.slides[0], image_path=webp),))
    archive = export(deck)
    assert archive.namelist() == ["01-title-1.webp", "manifest.json"]
    assert archive.read("01-title-1.webp") == webp.read_bytes()
    assert manifest(archive)["results"][0]["file"] == "01-title-1.webp"
