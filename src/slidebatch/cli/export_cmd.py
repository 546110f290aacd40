"""``slidebatch export DIR_OR_BATCH``: a ``generate`` folder or a stored batch as PPTX/PDF/ZIP."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from slidebatch.cli.output import fail
from slidebatch.errors import ConfigError, InputError, NotFound

if TYPE_CHECKING:  # imported where used, so that `slidebatch --help` stays fast
    from slidebatch.exporters.base import ExportDeck, FailedSlides

BATCH_ID = re.compile(r"[0-9a-f]{32}")


def export(
    directory: Annotated[
        Path,
        typer.Argument(
            help="A directory written by `slidebatch generate`, or a batch id.",
            metavar="DIR_OR_BATCH_ID",
        ),
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
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="For a batch id: the data folder it is stored in (default: as for generate).",
        ),
    ] = None,
) -> None:
    """Export a deck (a `generate` folder, or a batch stored by the server) to PPTX, PDF or ZIP."""
    from slidebatch.exporters.base import parse_failed
    from slidebatch.exporters.files import write_export
    from slidebatch.exporters.sources import deck_from_directory

    try:
        chosen = _formats(formats or ["pptx"])
        handling = parse_failed(failed)
        if not directory.exists() and BATCH_ID.fullmatch(str(directory)):
            deck = asyncio.run(_stored_deck(str(directory), data_dir))
            directory = Path(".")
        else:
            deck = deck_from_directory(directory)
        targets = [(fmt, _target(deck, directory, out, fmt, len(chosen))) for fmt in chosen]
        for fmt, target in targets:
            write_export(deck, fmt, target, failed=handling)
            typer.echo(f"{target}  ({_summary(deck, handling)})")
    except (InputError, NotFound, ConfigError) as exc:
        fail(str(exc))
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        fail(f"cannot write the export: {exc.strerror or exc}{where}")


async def _stored_deck(batch_id: str, data_dir: Path | None) -> ExportDeck:
    """The deck of a batch in the configured database (the server's, or the CLI's)."""
    from slidebatch.cli.data_dir import cli_settings
    from slidebatch.exporters.sources import deck_from_records
    from slidebatch.storage.database import Database
    from slidebatch.storage.images import ImageStore

    settings = cli_settings(data_dir)
    database = await Database.open(settings.effective_database_url)
    try:
        batch = await database.batches.get_batch(batch_id)
        slides = await database.batches.get_slides(batch_id)
    finally:
        await database.close()
    deck = deck_from_records(batch, slides, ImageStore(settings.images_dir).batch_dir(batch_id))
    return replace(deck, max_pixels=settings.image_max_pixels)


def _formats(given: list[str]) -> list[str]:
    from slidebatch.exporters.base import FORMATS

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
    from slidebatch.exporters.filename import deck_export_name

    name = deck_export_name(deck.title, directory.resolve().name, fmt)
    if out is None:
        return directory / name
    _check_out_suffix(out, fmt, count)
    if out.is_dir() or count > 1 or not out.suffix:
        if out.exists() and not out.is_dir():
            raise InputError(
                f"--out {out} is a file; with {count} formats give a folder"
                if count > 1
                else f"--out {out} is a file; give a folder or a file name with an extension"
            )
        return out / name
    return out


def _check_out_suffix(out: Path, fmt: str, count: int) -> None:
    """An --out named like an export file must match the one format asked for.

    ``-f pptx -f pdf --out deck.pptx`` made a folder named ``deck.pptx``, and
    ``-f pptx --out deck.pdf`` a PPTX named ``deck.pdf``.
    """
    from slidebatch.exporters.base import FORMATS

    suffix = out.suffix.lower().lstrip(".")
    if out.is_dir() or suffix not in FORMATS:
        return
    if count > 1:
        raise InputError(f"--out {out} names one file; with {count} formats give a folder")
    if suffix != fmt:
        raise InputError(f"--out {out} ends in .{suffix} but the format is {fmt}")


def _summary(deck: ExportDeck, handling: FailedSlides) -> str:
    total = len(deck.slides)
    missing = sum(1 for s in deck.slides if s.image_path is None or not s.image_path.is_file())
    if not missing:
        return f"{total} slides"
    from slidebatch.exporters.base import FailedSlides

    verb = "marked" if handling is FailedSlides.PLACEHOLDER else "left out"
    return f"{total} slides, {missing} without an image {verb}"


def register(app: typer.Typer) -> None:
    app.command("export")(export)
