"""``slidebatch style IMAGE`` and ``slidebatch outline DOC.md --slides N``.

Both call the chat model of the configured provider (``LLM_CHAT_MODEL``) when it has one, and
the offline method otherwise (no key, the local provider) or with ``--offline``. ``outline``
prints a Markdown deck that ``slidebatch generate`` reads; the model's text is shown on stderr
as it is written when stderr is a terminal.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from slidebatch.cli.output import EXIT_FAILED, fail
from slidebatch.errors import ConfigError, InputError, ProviderError

if TYPE_CHECKING:
    import httpx

    from slidebatch.assist.chat import ChatModel


def style(
    images: Annotated[
        list[Path],
        typer.Argument(help="Reference image(s): PNG, JPEG or WebP.", metavar="IMAGE"),
    ],
    offline: Annotated[bool, typer.Option(help="Use the offline method, not the model.")] = False,
) -> None:
    """Print a style prompt derived from reference image(s)."""
    from slidebatch.assist.style import analyze_style
    from slidebatch.core.look import MAX_REFERENCES, check_reference

    try:
        if len(images) > MAX_REFERENCES:
            raise InputError(f"at most {MAX_REFERENCES} images")
        uploads = [(str(p), check_reference(_read(p), what=str(p)).data) for p in images]
        model = None if offline else _chat_model()

        async def run(client: httpx.AsyncClient) -> str:
            return await analyze_style(client, model, uploads, on_text=_show_live())

        text = asyncio.run(_with_client(run))
    except (InputError, ConfigError) as exc:
        fail(str(exc))
    except ProviderError as exc:
        fail(f"the chat model failed: {exc}", EXIT_FAILED)
    typer.echo(text)


def outline(
    document: Annotated[
        Path, typer.Argument(help="The document (Markdown or text); - is stdin.", metavar="DOC")
    ],
    slides: Annotated[int, typer.Option("--slides", "-n", help="How many slides.")] = 8,
    offline: Annotated[bool, typer.Option(help="Use the offline method, not the model.")] = False,
) -> None:
    """Print a Markdown deck outlining DOCUMENT (redirect it: > deck.md)."""
    from slidebatch.assist.markdown import outline_markdown
    from slidebatch.assist.outline import check_document, write_outline

    try:
        text = sys.stdin.read() if str(document) == "-" else _read(document).decode("utf-8")
        check_document(text, slides)
        model = None if offline else _chat_model()

        async def run(client: httpx.AsyncClient) -> str:
            written = await write_outline(client, model, text, slides, on_text=_show_live())
            return outline_markdown(written)

        deck_text = asyncio.run(_with_client(run))
    except UnicodeDecodeError:
        fail(f"{document} is not UTF-8 text")
    except (InputError, ConfigError) as exc:
        fail(str(exc))
    except ProviderError as exc:
        fail(f"the chat model failed: {exc}", EXIT_FAILED)
    typer.echo(deck_text, nl=False)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _chat_model() -> ChatModel | None:
    from slidebatch.assist.select import chat_model_for
    from slidebatch.config import load_settings
    from slidebatch.scheduler.clock import SystemClock

    return chat_model_for(load_settings(), SystemClock())


async def _with_client(run: Callable[[httpx.AsyncClient], Awaitable[str]]) -> str:
    import httpx

    async with httpx.AsyncClient() as client:
        return await run(client)


def _show_live() -> Callable[[str], Awaitable[None]] | None:
    """The model's text on stderr as it is written, when stderr is a terminal."""
    if not sys.stderr.isatty():
        return None

    async def show(piece: str) -> None:
        sys.stderr.write(piece)
        sys.stderr.flush()

    return show


def register(app: typer.Typer) -> None:
    app.command("style")(style)
    app.command("outline")(outline)
