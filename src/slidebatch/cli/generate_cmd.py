"""``slidebatch generate DECK``: a deck file in, slide images and ``manifest.json`` out.

Runs the batch through the same engine as the server (same gate, same retries, same
persistence), with a live progress bar, and exits 0 only if every slide succeeded. Bad input,
an unusable ``--out`` or a deck past a limit exit 2 before anything is rendered.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

from slidebatch.cli.output import EXIT_INTERRUPTED, EXIT_USAGE, NOT_STARTED, err_console, fail
from slidebatch.errors import SlidebatchError

if TYPE_CHECKING:  # imported where used, so that `slidebatch --help` stays fast
    from slidebatch.config import Settings
    from slidebatch.core.deck import DeckInput
    from slidebatch.core.slide import BatchRequest

MAX_DECK_BYTES = 8 * 1024 * 1024


def generate(
    deck: Path = typer.Argument(
        ...,
        help="Deck file: JSON (seed batch request or slide list) or Markdown.",
        metavar="DECK",
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
    data_dir: Path | None = typer.Option(
        None,
        "--data-dir",
        help="Where the database, stored images and logs live "
        "(default: DATA_DIR if set, else the per-user data folder).",
    ),
    fresh: bool = typer.Option(
        False, "--fresh", help="Start over instead of continuing this folder's earlier run."
    ),
    max_cost: float | None = typer.Option(
        None,
        "--max-cost",
        min=0.0,
        help="USD the run may cost at most: refused before any image when the estimate is "
        "above it; pending slides are cancelled before the spend would pass it.",
    ),
) -> None:
    """Generate every slide of DECK and write DIR/NN-<slug>.png and DIR/manifest.json.

    Re-running the same deck into the same folder continues the earlier run: only slides
    that are not done yet are generated (and paid for). --fresh starts over.
    """
    out_dir = out or Path("out") / deck.stem
    try:
        settings, request = _checked(
            deck, _style(style, style_file), aspect, workers, data_dir, out_dir
        )
        formats = [f for f, wanted in (("pptx", pptx), ("pdf", pdf), ("zip", zip_)) if wanted]
        code = _run(settings, request, out_dir, formats, fresh=fresh, max_cost=max_cost)
    except SlidebatchError as exc:
        fail(str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        _early_interrupt()
    raise typer.Exit(code)


def _early_interrupt() -> NoReturn:
    """Ctrl-C before the run's own handler is up (checks, imports): nothing was started."""
    err_console.print(f"[yellow]{NOT_STARTED}[/]")
    raise typer.Exit(EXIT_INTERRUPTED)


def _run(
    settings: Settings,
    request: BatchRequest,
    out_dir: Path,
    formats: list[str],
    *,
    fresh: bool,
    max_cost: float | None,
) -> int:
    """The run's exit code; a ``SlidebatchError`` on the way exits 1 with its message."""
    import asyncio

    from slidebatch.cli.interrupts import Interrupts
    from slidebatch.storage.ownership import own_data_dir

    stop = Interrupts()
    try:
        # One process per data directory, held until the run ends (storage/ownership.py).
        with own_data_dir(settings.effective_database_url):
            # Loaded once the directory is ours: a refused run stops before the engine loads.
            from slidebatch.cli.batch_run import run_batch

            return asyncio.run(
                run_batch(
                    settings,
                    request,
                    out_dir,
                    formats,
                    fresh=fresh,
                    max_cost=max_cost,
                    interrupts=stop,
                )
            )
    except SlidebatchError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        if not stop.used:
            _early_interrupt()
        # Outside the run's handler once it ended: while its files were being written.
        err_console.print(
            f"[yellow]Interrupted while writing {out_dir}; re-run the same command to write it "
            "again (nothing more is paid).[/]"
        )
        return EXIT_INTERRUPTED


def _checked(
    deck: Path,
    style: str | None,
    aspect: str | None,
    workers: str | None,
    data_dir: Path | None,
    out_dir: Path,
) -> tuple[Settings, BatchRequest]:
    """The settings and the request, checked: limits, the data folder's shape, ``--out``.

    ``SlidebatchError`` (exit 2) for a bad deck, option or folder.
    """
    from slidebatch.cli.data_dir import cli_settings
    from slidebatch.cli.preflight import check_folder_shape, check_limits, check_out_dir
    from slidebatch.core.deck import parse_deck

    settings = cli_settings(data_dir)
    parsed = parse_deck(_read(deck), source=deck.name)
    request = _request(parsed, style=style, aspect=aspect, workers=workers)
    check_limits(request, settings)
    # The state folder before --out: a bad --data-dir must not leave an empty --out behind.
    check_folder_shape(settings.data_dir, option="--data-dir")
    check_out_dir(out_dir)
    return settings, request


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
    from slidebatch.core.aspect import AspectRatio
    from slidebatch.core.slide import BatchRequest

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


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
