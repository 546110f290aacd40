"""The seed's streaming answers: ``data: {json}`` lines with typed progress messages.

The seed's frontend reads a ``fetch`` body chunk by chunk and parses each ``data: `` line on
its own, so every message is one line and one chunk.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from slidebatch.authoring.outline import OutlineSlide

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse(message: dict[str, Any]) -> str:
    """One message as the seed sends it."""
    return f"data: {json.dumps(message, ensure_ascii=False)}\n\n"


def slide_message(slide: OutlineSlide) -> dict[str, Any]:
    """A slide as the seed's outline endpoints describe it (no id: the client makes one)."""
    return {
        "page_num": slide.page_num,
        "type": str(slide.type),
        "title": slide.title,
        "content_text": slide.content_text,
        "visual_desc": slide.visual_desc,
        "status": "pending",
    }


def outline_messages(
    slides: Sequence[OutlineSlide], slide_count: int, template_name: str | None
) -> list[dict[str, Any]]:
    """start, progress..., one ``slide`` per slide, complete: the seed's outline stream."""
    messages: list[dict[str, Any]] = [
        {"type": "start", "message": "开始生成大纲...", "slide_count": slide_count}
    ]
    if template_name:
        messages.append({"type": "progress", "message": f"已找到模板: {template_name}"})
    messages.append({"type": "progress", "message": "正在按文档标题、段落和列表整理大纲..."})
    total = len(slides)
    for i, slide in enumerate(slides, start=1):
        messages.append(
            {
                "type": "slide",
                "slide": slide_message(slide),
                "progress": f"{i}/{total}",
                "current_slide": i,
                "total_slides": total,
            }
        )
    done = "大纲生成完成"
    if total < slide_count:
        done += f"（文档内容只够 {total} 页）"
    messages.append({"type": "complete", "message": done, "total_slides": total})
    return messages


def style_messages(style_prompt: str, file_names: Sequence[str]) -> list[dict[str, Any]]:
    """start, progress per file, chunk_start, chunks of lines, complete: the seed's order."""
    count = len(file_names)
    messages: list[dict[str, Any]] = [
        {"type": "start", "message": "开始分析模板图片...", "file_count": count},
        {"type": "progress", "message": "正在验证上传的图片..."},
    ]
    for i, name in enumerate(file_names, start=1):
        messages.append({"type": "progress", "message": f"已验证文件 {i}/{count}: {name}"})
    messages.append({"type": "progress", "message": "正在进行像素级颜色分析..."})
    messages.append({"type": "chunk_start", "message": "开始生成风格提示词..."})
    lines = style_prompt.split("\n")
    size = max(1, len(lines) // 5)
    for start in range(0, len(lines), size):
        messages.append(
            {
                "type": "chunk",
                "content": "\n".join(lines[start : start + size]),
                "progress": f"{min(start + size, len(lines))}/{len(lines)}",
            }
        )
    messages.append({"type": "complete", "message": "模板分析完成", "style_prompt": style_prompt})
    return messages
