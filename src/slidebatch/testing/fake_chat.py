"""The fake upstream's text and vision chat answers: deterministic, shaped like the real ones.

A chat request without ``modalities: ["image", ...]`` is a text call. With images in the user
message it is a style analysis: the offline method's prompt for the first image (its colours
by hex). Otherwise, a prompt asking for "exactly N slides" of a document gets the offline
outline of the document as a Markdown deck (N slides when the document fills them).
``[[outline:bad_once]]`` in the document makes the first answer unreadable (the repair then
works), ``[[outline:bad_always]]`` every answer. ``stream: true`` answers as server-sent
events, a few words per chunk.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from slidebatch.assist.markdown import outline_markdown
from slidebatch.assist.offline_outline import outline
from slidebatch.assist.offline_style import read_tone, style_prompt

_SLIDES = re.compile(r"exactly (\d+) slides?\b")
_BAD = re.compile(r"\[\[outline:(bad_once|bad_always)\]\]")
_DOCUMENT_MARK = "The document:"
_CHUNK_WORDS = 4


def is_text_chat(body: Mapping[str, Any]) -> bool:
    """Whether an OpenRouter-shaped request asks for text only (no image modality)."""
    modalities = body.get("modalities")
    return not (isinstance(modalities, list) and "image" in modalities)


def chat_answer(messages: Sequence[Mapping[str, Any]]) -> str:
    """The assistant's text for this conversation."""
    last = messages[-1]
    images = _images(last.get("content"))
    if images:
        return style_prompt([read_tone("image", images[0])])
    first = _text(messages[0].get("content"))
    repairs = sum(1 for m in messages if m.get("role") == "assistant")
    bad = _BAD.search(first)
    if bad and (bad.group(1) == "bad_always" or repairs == 0):
        return "Sure! Here is an outline of your document, in a few parts."
    wanted = _SLIDES.search(first)
    if wanted is None:
        return "OK."
    document = first.split(_DOCUMENT_MARK, 1)[-1]
    return outline_markdown(outline(_BAD.sub("", document), int(wanted.group(1))))


def sse_chunks(text: str, request_id: str, model: str) -> Iterator[bytes]:
    """``text`` as OpenAI-style ``chat.completion.chunk`` events, then ``[DONE]``."""
    words = re.findall(r"\S+\s*|\s+", text)
    for start in range(0, len(words), _CHUNK_WORDS):
        piece = "".join(words[start : start + _CHUNK_WORDS])
        event = {
            "id": request_id,
            "object": "chat.completion.chunk",
            "model": model,
            "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
        }
        yield f"data: {json.dumps(event)}\n\n".encode()
    end = {"id": request_id, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    yield f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode()


def completion(text: str, request_id: str, model: str) -> dict[str, Any]:
    """A non-streamed ``chat.completion`` body."""
    return {
        "id": request_id,
        "object": "chat.completion",
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": len(text.split())},
    }


def _images(content: object) -> list[bytes]:
    found: list[bytes] = []
    for part in content if isinstance(content, list) else []:
        if isinstance(part, Mapping) and part.get("type") == "image_url":
            url = str(part["image_url"]["url"])
            found.append(base64.b64decode(url.partition(",")[2]))
    return found


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else []
    return " ".join(str(p.get("text", "")) for p in parts if isinstance(p, Mapping))
