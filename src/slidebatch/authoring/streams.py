"""The seed's streaming answers: ``data: {json}`` lines with typed progress messages.

The seed's frontend reads a ``fetch`` body chunk by chunk and parses each ``data: `` line on
its own, so every message is one line and one chunk.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from slidebatch.assist.offline_outline import OutlineSlide
from slidebatch.authoring.messages import (
    Chunk,
    ErrorMessage,
    OutlineMessage,
    SlideFields,
    SlideMessage,
    StreamMessage,
    StyleComplete,
    StyleMessage,
)

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
OFFLINE_OUTLINE_STEP = "正在按文档标题、段落和列表整理大纲..."
MODEL_OUTLINE_STEP = "正在请模型撰写大纲..."
OFFLINE_STYLE_STEP = "正在进行像素级颜色分析..."
MODEL_STYLE_STEP = "正在请模型分析图片风格..."
T = TypeVar("T")
M = TypeVar("M", OutlineMessage, StyleMessage)
OnText = Callable[[str], Awaitable[None]]


def sse(message: StreamMessage) -> str:
    """One message as the seed sends it."""
    return f"data: {json.dumps(message, ensure_ascii=False)}\n\n"


async def sse_lines(messages: AsyncIterator[M]) -> AsyncIterator[str]:
    """Each message as its ``data:`` line."""
    async for message in messages:
        yield sse(message)


async def each(messages: Sequence[M]) -> AsyncIterator[M]:
    """Messages already known, as a stream."""
    for message in messages:
        yield message


async def with_references(
    messages: AsyncIterator[StyleMessage], references: list[str]
) -> AsyncIterator[StyleMessage]:
    """``messages`` with the kept reference images' URLs on the ``complete`` one."""
    async for message in messages:
        if message["type"] == "complete":
            message = StyleComplete(
                type="complete",
                message=message["message"],
                style_prompt=message["style_prompt"],
                reference_images=references,
            )
        yield message


def slide_message(slide: OutlineSlide) -> SlideFields:
    """A slide as the seed's outline endpoints describe it (no id: the client makes one)."""
    return {
        "page_num": slide.page_num,
        "type": slide.type,
        "title": slide.title,
        "content_text": slide.content_text,
        "visual_desc": slide.visual_desc,
        "status": "pending",
    }


def outline_head(slide_count: int, template_name: str | None, step: str) -> list[OutlineMessage]:
    """start, the template found, what is being done: the seed's outline stream opening."""
    messages: list[OutlineMessage] = [
        {"type": "start", "message": "开始生成大纲...", "slide_count": slide_count}
    ]
    if template_name:
        messages.append({"type": "progress", "message": f"已找到模板: {template_name}"})
    messages.append({"type": "progress", "message": step})
    return messages


def outline_tail(slides: Sequence[OutlineSlide], slide_count: int) -> list[OutlineMessage]:
    """One ``slide`` message per slide, then ``complete``."""
    total = len(slides)
    messages: list[OutlineMessage] = [
        SlideMessage(
            type="slide",
            slide=slide_message(slide),
            progress=f"{i}/{total}",
            current_slide=i,
            total_slides=total,
        )
        for i, slide in enumerate(slides, start=1)
    ]
    done = "大纲生成完成"
    if total < slide_count:
        done += f"（文档内容只够 {total} 页）"
    messages.append({"type": "complete", "message": done, "total_slides": total})
    return messages


def outline_messages(
    slides: Sequence[OutlineSlide], slide_count: int, template_name: str | None
) -> list[OutlineMessage]:
    """start, progress..., one ``slide`` per slide, complete: the seed's outline stream."""
    head = outline_head(slide_count, template_name, OFFLINE_OUTLINE_STEP)
    return head + outline_tail(slides, slide_count)


def style_head(file_names: Sequence[str], step: str) -> list[StyleMessage]:
    """start, a progress line per file, what is being done, chunk_start."""
    count = len(file_names)
    messages: list[StyleMessage] = [
        {"type": "start", "message": "开始分析模板图片...", "file_count": count},
        {"type": "progress", "message": "正在验证上传的图片..."},
    ]
    for i, name in enumerate(file_names, start=1):
        messages.append({"type": "progress", "message": f"已验证文件 {i}/{count}: {name}"})
    messages.append({"type": "progress", "message": step})
    messages.append({"type": "chunk_start", "message": "开始生成风格提示词..."})
    return messages


def style_complete(style_prompt: str) -> StyleComplete:
    """The last message of a style stream, with the whole prompt."""
    return {"type": "complete", "message": "模板分析完成", "style_prompt": style_prompt}


def error_message(message: str) -> ErrorMessage:
    """What a stream says when the model fails after the answer started (status is 200 then)."""
    return {"type": "error", "message": message}


def style_messages(style_prompt: str, file_names: Sequence[str]) -> list[StyleMessage]:
    """start, progress per file, chunk_start, chunks of lines, complete: the seed's order."""
    messages = style_head(file_names, OFFLINE_STYLE_STEP)
    lines = style_prompt.split("\n")
    size = max(1, len(lines) // 5)
    for start in range(0, len(lines), size):
        messages.append(
            Chunk(
                type="chunk",
                content="\n".join(lines[start : start + size]),
                progress=f"{min(start + size, len(lines))}/{len(lines)}",
            )
        )
    messages.append(style_complete(style_prompt))
    return messages


@dataclass(frozen=True, slots=True)
class Finished(Generic[T]):
    """The end of a relayed piece of work, with its result."""

    value: T


async def relayed(work: Callable[[OnText], Awaitable[T]]) -> AsyncIterator[str | Finished[T]]:
    """Runs ``work(on_text)``: yields each text piece it reports, then ``Finished(result)``.

    An error of ``work`` is raised after the pieces before it; closing the iterator (the client
    went away) cancels the work.
    """
    queue: asyncio.Queue[str] = asyncio.Queue()
    task = asyncio.ensure_future(work(queue.put))
    getter: asyncio.Future[str] | None = None
    try:
        while True:
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                while not queue.empty():
                    yield queue.get_nowait()
                yield Finished(task.result())
                return
            yield getter.result()
    finally:
        if getter is not None:
            getter.cancel()
        task.cancel()


def lines_of(pieces: str) -> tuple[list[str], str]:
    """The complete lines in ``pieces`` and the unfinished rest."""
    *done, rest = pieces.split("\n")
    return [line for line in done if line.strip()], rest
