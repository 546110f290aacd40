"""A style prompt from a reference image, written by the configured chat model (vision).

The answer is one paragraph a slide prompt can carry as its style: palette with hex codes,
background, type, texture, mood. An empty answer is the upstream's failure, not the user's.
``analyze_style`` is the one entry the CLI and the seed's ``/template/analyze*`` share: every
image is decoded first (a non-image is the client's 4xx before any call), then the model
writes the prompt, or with no chat model the offline method (``offline_style``) does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import httpx

from slidebatch.assist.chat import ChatModel, OnText, chat_text, user_message
from slidebatch.assist.offline_style import ImageTone, read_tone, style_prompt
from slidebatch.errors import TransientProviderError

MAX_STYLE_CHARS = 1200

Upload = tuple[str, bytes]  # (file name, bytes)

STYLE_INSTRUCTION = (
    "You design presentation decks. Describe the visual style of the attached reference "
    "image(s) as ONE style prompt for generating slide images in the same look: the palette "
    "with hex codes (background, primary, accent, text), typography, textures and shapes, "
    "layout density and mood. Answer with the style prompt only, one paragraph, no preamble."
)


async def model_style(
    client: httpx.AsyncClient,
    model: ChatModel,
    images: Sequence[bytes],
    *,
    hint: str = "",
    on_text: OnText | None = None,
) -> str:
    """The style prompt the model writes for ``images`` (checked images, 1 or more)."""
    text = STYLE_INSTRUCTION + (f"\nThe user adds: {hint}" if hint else "")
    messages = [user_message(text, images)]
    answer = await chat_text(client, model, messages, on_text=on_text)
    lines = (" ".join(line.split()) for line in answer.splitlines())
    style = "\n".join(line for line in lines if line)
    if not style:
        raise TransientProviderError("the chat model answered the style analysis with no text")
    return style[:MAX_STYLE_CHARS]


async def analyze_style(
    client: httpx.AsyncClient,
    model: ChatModel | None,
    uploads: Sequence[Upload],
    *,
    on_text: OnText | None = None,
    tones: Sequence[ImageTone] | None = None,
) -> str:
    """The style prompt of ``uploads``: the model's when there is one, else the offline one.

    ``InputError``/``LimitExceeded`` (4xx) for a file that is empty, too big or not an image,
    before any call; the model's failures are its typed ``ProviderError``s (5xx). ``tones``:
    the uploads already read by ``check_images``.
    """
    if tones is None:
        tones = await check_images(uploads)
    if model is None:
        return await asyncio.to_thread(style_prompt, list(tones))
    return await model_style(client, model, [data for _, data in uploads], on_text=on_text)


async def check_images(uploads: Sequence[Upload]) -> list[ImageTone]:
    """Every upload decoded (off the event loop); ``InputError``/``LimitExceeded`` if one is not."""
    return await asyncio.to_thread(lambda: [read_tone(name, data) for name, data in uploads])
