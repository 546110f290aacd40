"""``slidebatch generate DECK``: a deck file in, slide images and ``manifest.json`` out.

Runs the batch through the same engine as the server (same gate, same retries, same
persistence), with a live progress bar, and exits 0 only if every slide succeeded.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from slidebatch.cli.output import EXIT_FAILED, EXIT_OK, fail
from slidebatch.config import Settings, load_settings
from slidebatch.core.aspect import AspectRatio
from slidebatch.core.deck import DeckInput, parse_deck
from slidebatch.core.slide import BatchRequest
from slidebatch.core.states import BatchState
from slidebatch.errors import SlidebatchError
from slidebatch.exporters.base import ExportDeck
from slidebatch.exporters.deck import deck_from_records
from slidebatch.exporters.filename import slugify
from slidebatch.exporters.files import write_export
from slidebatch.exporters.manifest import MANIFEST_NAME, manifest_dict
from slidebatch.services import Services, build_services

console = Console(highlight=False)

MAX_DECK_BYTES = 8 * 1024 * 1024


def generate(
    deck: Path = typer.Argument(
        ..., help="Deck file: JSON (seed batch request or slide list) or Markdown."
    ),
    style: str | None = typer.Option(None, "--style", help="Style prompt (overrides the deck's)."),
    style_file: Path | None = typer.Option(
        None, "--style-file", help="Read the style prompt from a file."
    ),
    aspect: str | None = typer.Option(
        None, "--aspect", help="Aspect ratio W:H (default: the deck's, else 16:9)."
    ),
    workers: str | None = typer.Option(
        None, "--workers", help="Per-batch cap, or 'auto' (default)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Output folder (default: out/<deck name>)."
    ),
    pptx: bool = typer.Option(False, "--pptx", help="Also write a .pptx."),
    pdf: bool = typer.Option(False, "--pdf", help="Also write a .pdf."),
    zip_: bool = typer.Option(False, "--zip", help="Also write a .zip."),
) -> None:
    """Generate every slide of DECK and write DIR/NN-<slug>.png and DIR/manifest.json."""
    try:
        settings = load_settings()
        parsed = parse_deck(_read(deck), source=deck.name)
        request = _request(parsed, style=_style(style, style_file), aspect=aspect, workers=workers)
    except SlidebatchError as exc:
        fail(str(exc))
    out_dir = out or Path("out") / deck.stem
    formats = [f for f, wanted in (("pptx", pptx), ("pdf", pdf), ("zip", zip_)) if wanted]
    try:
        code = asyncio.run(_run(settings, request, out_dir, formats))
    except SlidebatchError as exc:
        fail(str(exc))
    raise typer.Exit(code)


def _read(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_DECK_BYTES:
            raise SlidebatchError(f"{path}: larger than {MAX_DECK_BYTES // (1024 * 1024)} MB")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SlidebatchError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SlidebatchError(f"{path}: is a directory, not a deck file") from None
    except UnicodeDecodeError:
        raise SlidebatchError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise SlidebatchError(f"{path}: cannot be read ({exc.strerror})") from None


def _style(style: str | None, style_file: Path | None) -> str | None:
    if style is not None and style_file is not None:
        raise SlidebatchError("give --style or --style-file, not both")
    return _read(style_file).strip() if style_file is not None else style


def _request(
    parsed: DeckInput, *, style: str | None, aspect: str | None, workers: str | None
) -> BatchRequest:
    max_workers: int | None = parsed.max_workers if isinstance(parsed.max_workers, int) else None
    if workers is not None:
        max_workers = _workers(workers)
    return BatchRequest(
        slides=parsed.slides,
        style_prompt=style if style is not None else (parsed.style_prompt or ""),
        aspect_ratio=AspectRatio.parse(aspect)
        if aspect
        else parsed.aspect_ratio or AspectRatio(16, 9),
        max_workers=max_workers,
        title=parsed.title,
    )


def _workers(text: str) -> int | None:
    if text.strip().lower() == "auto":
        return None
    if not text.strip().isdigit() or int(text) < 1:
        raise SlidebatchError(f"--workers {text!r} must be a positive integer or 'auto'")
    return int(text)


async def _run(settings: Settings, request: BatchRequest, out_dir: Path, formats: list[str]) -> int:
    async with build_services(settings) as services:
        batch, _ = await services.engine.submit(request)
        await _watch(services, batch.id, len(request.slides))
        record = await services.engine.wait(batch.id)
        slides = await services.database.batches.get_slides(batch.id)
        deck = deck_from_records(record, slides, services.images.batch_dir(batch.id))
        deck = replace(deck, provider=services.provider.name)
    manifest = await asyncio.to_thread(_write_output, deck, out_dir)
    for fmt in formats:
        name = f"{slugify(deck.title, fallback='deck')}.{fmt}"
        path = await asyncio.to_thread(write_export, deck, fmt, out_dir / name)
        console.print(f"wrote {path}")
    _summary(manifest, out_dir, record.state)
    return EXIT_OK if record.state is BatchState.COMPLETED else EXIT_FAILED


async def _watch(services: Services, batch_id: str, total: int) -> None:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        TextColumn("ETA {task.fields[eta]}"),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("slides", total=total, detail="", eta="-")
        async with services.engine.events.subscribe(batch_id) as stream:
            status = await services.engine.status(batch_id)
            _update(progress, task, status)
            if BatchState(status["status"]).is_final:
                return
            async for event in stream:
                _update(progress, task, event.data)


def _update(progress: Progress, task: Any, data: dict[str, Any]) -> None:
    completed = data.get("completed_slides")
    eta = data.get("estimated_remaining_time")
    slide = data.get("slide")
    detail = f"p{slide['page_num']} {slide['state']}" if slide else ""
    if slide and slide.get("error_message") and slide["state"] != "done":
        detail += f" ({slide['error_message'][:60]})"
    fields: dict[str, Any] = {"detail": detail, "eta": "-" if eta is None else f"{eta:.0f}s"}
    if completed is not None:
        fields["completed"] = completed
    progress.update(task, **fields)


def _write_output(deck: ExportDeck, out_dir: Path) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    width = max(2, len(str(len(deck.slides))))
    files: dict[int, str | None] = {}
    for index, slide in enumerate(deck.slides):
        if slide.image_path is None or not slide.image_path.is_file():
            files[index] = None
            continue
        name = f"{slide.page_num:0{width}d}-{slugify(slide.title)}.png"
        shutil.copyfile(slide.image_path, out_dir / name)
        files[index] = name
    manifest = manifest_dict(deck, files)
    text = json.dumps(manifest, ensure_ascii=False, indent=2)
    (out_dir / MANIFEST_NAME).write_text(text + "\n", encoding="utf-8")
    return manifest


def _summary(manifest: dict[str, Any], out_dir: Path, state: BatchState) -> None:
    ok, total = manifest["successful"], manifest["total_slides"]
    colour = "green" if ok == total else "red"
    console.print(
        f"[{colour}]{ok}/{total} slides[/] in {manifest['total_time'] or 0:.1f}s ({state}) "
        f"-> {out_dir / MANIFEST_NAME}"
    )
    for result in manifest["results"]:
        if result["status"] != "done":
            console.print(
                f"  [red]p{result['page_num']} {result['title']!r}: {result['error_message']}[/]"
            )


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
