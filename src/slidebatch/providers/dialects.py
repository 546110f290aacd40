"""Where an OpenAI-compatible chat answer keeps its image, whichever relay wrote it.

OpenRouter puts images in ``message.images[].image_url.url``. Relays and proxies of the same
API put them in ``message.content`` instead: a list with ``{"type": "image_url"}`` parts, or a
text holding a Markdown ``![](data:image/...;base64,...)`` (or a bare data URI). All of them
are read, in the order the answer gives them; the last one is the answer (drafts come first).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# A Markdown image, or a bare data URI, in text content.
_MARKDOWN_IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?((?:data:image/|https?://)[^)\s>]+)>?\s*\)")
_BARE_DATA_URI = re.compile(r"data:image/[a-zA-Z0-9.+-]+;base64,[A-Za-z0-9+/=\s]+")


def message_image_urls(message: Mapping[str, object]) -> list[str]:
    """Every image URL (``data:`` or ``http(s):``) in a chat message, in answer order."""
    urls = content_image_urls(message.get("content"))
    images = message.get("images")
    for image in images if isinstance(images, list) else []:
        url = _part_url(image)
        if url is not None:
            urls.append(url)
    return urls


def content_image_urls(content: object) -> list[str]:
    """Images in ``content``: ``image_url`` parts and Markdown or bare data URIs in text."""
    if isinstance(content, str):
        return text_image_urls(content)
    urls: list[str] = []
    for part in content if isinstance(content, list) else []:
        if not isinstance(part, Mapping):
            continue
        url = _part_url(part)
        if url is not None:
            urls.append(url)
        elif isinstance(part.get("text"), str):
            urls.extend(text_image_urls(part["text"]))
    return urls


def content_text(content: object) -> str:
    """The words of ``content`` without any image in it (for messages about the answer)."""
    if isinstance(content, str):
        texts = [content]
    elif isinstance(content, list):
        texts = [
            part["text"]
            for part in content
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        ]
    else:
        texts = []
    text = " ".join(texts)
    text = _MARKDOWN_IMAGE.sub("[image]", text)
    return _BARE_DATA_URI.sub("[image]", text)


def text_image_urls(text: str) -> list[str]:
    """Markdown images, else bare data URIs, in ``text``."""
    found = [match.group(1) for match in _MARKDOWN_IMAGE.finditer(text)]
    if found:
        return found
    return ["".join(match.group(0).split()) for match in _BARE_DATA_URI.finditer(text)]


def _part_url(part: object) -> str | None:
    if not isinstance(part, Mapping):
        return None
    if part.get("type") not in (None, "image_url", "output_image", "image"):
        return None
    image_url = part.get("image_url")
    if isinstance(image_url, Mapping):
        image_url = image_url.get("url")
    return image_url if isinstance(image_url, str) and image_url else None
