"""``slidebatch style IMAGE`` and ``slidebatch outline DOC.md --slides N``.

Both call the chat model of the configured provider (``LLM_CHAT_MODEL``) when it has one, and
the offline method otherwise (no key, the local provider) or with ``--offline``. ``outline``
prints a Markdown deck that ``slidebatch generate`` reads; the model's text is shown on stderr
as it is written when stderr is a terminal.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from slidebatch.cli.output import EXIT_FAILED, fail
from slidebatch.errors import ConfigError, InputError, ProviderError


def style(
    images: Annotated[list[Path], typer.Argument(help="Reference image(s): PNG, JPEG or WebP.")],
    offline: Annotated[bool, typer.Option(help="Use the offline method, not the model.")] = False,
) -> None:
    """Print a style prompt derived from reference image(s)."""
    from slidebatch.assist.offline import offline_style
    from slidebatch.core.look import MAX_REFERENCES, check_reference

    try:
        if len(images) > MAX_REFERENCES:
            raise InputError(f"at most {MAX_REFERENCES} images")
        checked = [check_reference(_read(path), what=str(path)).data for path in images]
        model = None if offline else _chat_model()
        if model is None:
            text = offline_style(checked)
        else:
            text = asyncio.run(_model_style(model, checked))
    except (InputError, ConfigError) as exc:
        fail(str(exc))
    except ProviderError as exc:
        fail(f"the chat model failed: {exc}", EXIT_FAILED)
    typer.echo(text)


def outline(
    document: Annotated[Path, typer.Argument(help="The document (Markdown or text); - is stdin.")],
    slides: Annotated[int, typer.Option("--slides", "-n", help="How many slides.")] = 8,
    offline: Annotated[bool, typer.Option(help="Use the offline method, not the model.")] = False,
) -> None:
    """Print a Markdown deck outlining DOCUMENT (redirect it: > deck.md)."""
    from slidebatch.assist.offline import offline_outline
    from slidebatch.assist.outline import check_document
    from slidebatch.core.deck import parse_deck

    try:
        text = sys.stdin.read() if str(document) == "-" else _read(document).decode("utf-8")
        text = check_document(text, slides)
        model = None if offline else _chat_model()
        if model is None:
            deck_text = offline_outline(text, slides)
            parse_deck(deck_text, fmt="markdown", source="the offline outline")
        else:
            deck_text = asyncio.run(_model_outline(model, text, slides))
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


def _chat_model() -> object:
    from slidebatch.assist.select import chat_model_for
    from slidebatch.config import load_settings

    return chat_model_for(load_settings())


async def _model_style(model: object, images: list[bytes]) -> str:
    import httpx

    from slidebatch.assist.chat import ChatModel
    from slidebatch.assist.style import model_style

    assert isinstance(model, ChatModel)
    async with httpx.AsyncClient() as client:
        return await model_style(client, model, images)


async def _model_outline(model: object, document: str, slides: int) -> str:
    import httpx

    from slidebatch.assist.chat import ChatModel
    from slidebatch.assist.markdown import deck_markdown
    from slidebatch.assist.outline import model_outline

    assert isinstance(model, ChatModel)
    live = sys.stderr.isatty()

    async def show(piece: str) -> None:
        if live:
            sys.stderr.write(piece)
            sys.stderr.flush()

    async with httpx.AsyncClient() as client:
        deck = await model_outline(client, model, document, slides, on_text=show)
    if live:
        sys.stderr.write("\n")
    return deck_markdown(deck)


def register(app: typer.Typer) -> None:
    app.command("style")(style)
    app.command("outline")(outline)
