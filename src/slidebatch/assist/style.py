"""A style prompt from a reference image, written by the configured chat model (vision).

The answer is one paragraph a slide prompt can carry as its style: palette with hex codes,
background, type, texture, mood. An empty answer is the upstream's failure, not the user's.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from slidebatch.assist.chat import ChatModel, chat_text, user_message
from slidebatch.errors import TransientProviderError

MAX_STYLE_CHARS = 1200

STYLE_INSTRUCTION = (
    "You design presentation decks. Describe the visual style of the attached reference "
    "image(s) as ONE style prompt for generating slide images in the same look: the palette "
    "with hex codes (background, primary, accent, text), typography, textures and shapes, "
    "layout density and mood. Answer with the style prompt only, one paragraph, no preamble."
)


async def model_style(
    client: httpx.AsyncClient, model: ChatModel, images: Sequence[bytes], *, hint: str = ""
) -> str:
    """The style prompt the model writes for ``images`` (checked images, 1 or more)."""
    text = STYLE_INSTRUCTION + (f"\nThe user adds: {hint}" if hint else "")
    answer = await chat_text(client, model, [user_message(text, images)])
    style = " ".join(answer.split())
    if not style:
        raise TransientProviderError("the chat model answered the style analysis with no text")
    return style[:MAX_STYLE_CHARS]
