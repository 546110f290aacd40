"""The seed's streams when a chat model writes the answer: its text relayed as it arrives.

Bad input was refused (4xx) before a stream starts; a failure of the model after the 200 is an
``error`` message ending the stream (the upstream's message, key scrubbed), never a silent end.
Style text is sent a line at a time as ``chunk`` messages (joined with newlines they are the
prompt); outline text as ``chunk`` messages too, then the validated slides as ``slide``s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import httpx

from slidebatch.assist.chat import ChatModel
from slidebatch.assist.offline_outline import OutlineSlide
from slidebatch.assist.offline_style import ImageTone
from slidebatch.assist.outline import write_outline
from slidebatch.assist.style import Upload, analyze_style
from slidebatch.authoring.messages import Chunk, OutlineMessage, StyleMessage
from slidebatch.authoring.streams import (
    MODEL_OUTLINE_STEP,
    MODEL_STYLE_STEP,
    Finished,
    OnText,
    error_message,
    lines_of,
    outline_head,
    outline_tail,
    relayed,
    style_complete,
    style_head,
)
from slidebatch.errors import ProviderError


async def style_stream(
    client: httpx.AsyncClient,
    model: ChatModel,
    uploads: Sequence[Upload],
    tones: Sequence[ImageTone],
) -> AsyncIterator[StyleMessage]:
    """The seed's analyze stream with the model's prompt, a line per ``chunk`` as written."""
    for message in style_head([name for name, _ in uploads], MODEL_STYLE_STEP):
        yield message

    async def work(on_text: OnText) -> str:
        return await analyze_style(client, model, uploads, on_text=on_text, tones=tones)

    rest = ""
    try:
        async for item in relayed(work):
            if isinstance(item, Finished):
                if rest.strip():
                    yield Chunk(type="chunk", content=" ".join(rest.split()))
                yield style_complete(item.value)
                return
            done, rest = lines_of(rest + item)
            for line in done:
                yield Chunk(type="chunk", content=" ".join(line.split()))
    except ProviderError as exc:
        yield error_message(f"the chat model failed: {exc.message}")


async def outline_stream(
    client: httpx.AsyncClient,
    model: ChatModel,
    document: str,
    slide_count: int,
    template_name: str | None,
) -> AsyncIterator[OutlineMessage]:
    """The seed's outline stream: the model's text as ``chunk``s, then the checked slides."""
    for message in outline_head(slide_count, template_name, MODEL_OUTLINE_STEP):
        yield message

    async def work(on_text: OnText) -> list[OutlineSlide]:
        return await write_outline(client, model, document, slide_count, on_text=on_text)

    try:
        async for item in relayed(work):
            if isinstance(item, Finished):
                for message in outline_tail(item.value, slide_count):
                    yield message
                return
            yield Chunk(type="chunk", content=item)
    except ProviderError as exc:
        yield error_message(f"the chat model failed: {exc.message}")
