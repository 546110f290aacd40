"""``slidebatch export DIR``: a directory written by ``generate`` as PPTX, PDF and/or ZIP."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from slidebatch.cli.output import fail
from slidebatch.errors import InputError
from slidebatch.exporters.base import FORMATS, ExportDeck, FailedSlides, parse_failed
from slidebatch.exporters.deck import deck_from_directory
from slidebatch.exporters.filename import export_filename
from slidebatch.exporters.files import write_export


def export(
    directory: Annotated[
        Path, typer.Argument(help="A directory written by `slidebatch generate`.")
    ],
    formats: Annotated[
        list[str] | None,
        typer.Option("--format", "-f", help="pptx, pdf or zip; repeat for several. Default: pptx."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output file (one format) or directory. Default: DIR."),
    ] = None,
    failed: Annotated[
        str,
        typer.Option(help="Failed slides: 'placeholder' (a marked page) or 'omit'."),
    ] = "placeholder",
) -> None:
    """Export the deck in DIR (its manifest.json and images) to PPTX, PDF or ZIP."""
    try:
        chosen = _formats(formats or ["pptx"])
        handling = parse_failed(failed)
        deck = deck_from_directory(directory)
        targets = [(fmt, _target(deck, directory, out, fmt, len(chosen))) for fmt in chosen]
        for fmt, target in targets:
            write_export(deck, fmt, target, failed=handling)
            typer.echo(f"{target}  ({_summary(deck, handling)})")
    except InputError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write the export: {exc.strerror or exc} ({exc.filename or ''})".rstrip(" ()"))


def _formats(given: list[str]) -> list[str]:
    chosen: list[str] = []
    for item in given:
        for part in item.split(","):
            fmt = part.strip().lower().lstrip(".")
            if fmt not in FORMATS:
                raise InputError(f"unknown format {part!r}; choose from {', '.join(FORMATS)}")
            if fmt not in chosen:
                chosen.append(fmt)
    return chosen


def _target(deck: ExportDeck, directory: Path, out: Path | None, fmt: str, count: int) -> Path:
    """Where one format goes: a named file when ``--out`` is a file, else a file in a folder."""
    name = export_filename(deck.title or directory.resolve().name, fmt)
    if out is None:
        return directory / name
    if out.is_dir() or count > 1 or not out.suffix:
        return out / name
    return out


def _summary(deck: ExportDeck, handling: FailedSlides) -> str:
    total = len(deck.slides)
    missing = sum(1 for s in deck.slides if s.image_path is None or not s.image_path.is_file())
    if not missing:
        return f"{total} slides"
    verb = "marked" if handling is FailedSlides.PLACEHOLDER else "left out"
    return f"{total} slides, {missing} without an image {verb}"


def register(app: typer.Typer) -> None:
    app.command("export")(export)
