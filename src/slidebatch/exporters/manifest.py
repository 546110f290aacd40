"""``manifest.json``: the record of an output directory or ZIP, written and read back.

The shape is the one ``slidebatch generate`` writes::

    {"batch_id", "title", "style_prompt", "aspect_ratio": "16:9", "created_at": iso,
     "provider", "total_slides", "successful", "failed", "missing", "total_time",
     "cost" (USD or null), "cost_estimated": bool, "costs_unknown": int,
     "uncounted_images": int,
     "results": [{"slide_id", "page_num", "type", "title", "content_text", "visual_desc",
                  "file": "01-intro.png" | null, "image_url", "final_prompt",
                  "status": "done" | "error", "error_message", "generation_time",
                  "attempts", "cost", "spent", "placeholder", "warnings": [str],
                  "cost_estimated": bool, "missing": bool}]}

``missing`` marks a slide the run had not drawn yet when it stopped (Ctrl-C, a spent quota):
its ``status`` is ``pending`` (also for a request abandoned in flight: nothing is generating
once the run has ended), it has no file, it counts in the top-level ``missing`` (not in
``failed``), and re-running the same command draws it.

``cost`` is what the slide's latest image cost (USD); ``spent`` what all its paid images cost
(replaced ones and candidates too), and the top-level ``cost`` sums ``spent``;
``cost_estimated`` says ``cost`` is the model's price (an image found on disk after a crash,
its answer lost), not the provider's figure. At the top level, ``cost_estimated`` says the
total includes such estimates, ``costs_unknown`` counts the drawn slides whose cost is not
known (the total is then a lower bound), and ``uncounted_images`` the requests abandoned in
flight (a second Ctrl-C) that the upstream may have billed and no total includes.

``file`` is relative to the manifest's folder. Reading never follows a ``file`` outside it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeGuard

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.cost import Spend, spend_of
from slidebatch.errors import InputError
from slidebatch.exporters.base import ExportDeck, ExportSlide

MANIFEST_NAME = "manifest.json"
# A slide in these states has no image because the run stopped before it (Ctrl-C, a spent
# quota): it is missing, not failed, and a re-run of the same command draws it.
_NOT_YET = frozenset({"pending", "generating"})
# A manifest is a small index, never megabytes; refuse to parse something that is not one.
MAX_MANIFEST_BYTES = 16 * 1024 * 1024


def manifest_dict(
    deck: ExportDeck, files: Mapping[int, str | None], *, uncounted: int = 0
) -> dict[str, Any]:
    """The manifest of ``deck``; ``files`` maps a slide's index in ``deck.slides`` to its file.

    ``uncounted``: requests abandoned in flight that the upstream may have billed.
    """
    results = [_result(slide, files.get(index)) for index, slide in enumerate(deck.slides)]
    successful = sum(1 for r in results if r["status"] == "done")
    missing = sum(1 for r in results if r["missing"])
    spend = manifest_spend(results)
    return {
        "batch_id": deck.batch_id,
        "title": deck.title,
        "style_prompt": deck.style_prompt,
        "aspect_ratio": str(deck.aspect_ratio),
        "created_at": deck.created_at.isoformat(),
        "provider": deck.provider,
        "total_slides": len(results),
        "successful": successful,
        "failed": len(results) - successful - missing,
        "missing": missing,
        "total_time": deck.total_time,
        "cost": spend.total,
        "cost_estimated": spend.estimated > 0,
        "costs_unknown": spend.unknown,
        "uncounted_images": uncounted,
        "results": results,
    }


def manifest_spend(results: list[dict[str, Any]]) -> Spend:
    """What the manifest's slides cost as far as known (``core.cost.Spend``); $0 when no
    image was drawn or paid (an interrupted run with nothing done paid nothing it knows of)."""
    spend = spend_of(
        (
            r["spent"],
            r["cost_estimated"] is True,
            r["status"] == "done" and not r["placeholder"],
        )
        for r in results
    )
    if spend.total is None and not spend.unknown:
        return Spend(0.0)
    return spend


def _paid(slide: ExportSlide) -> float | None:
    return slide.cost if slide.spent is None else slide.spent


def _result(slide: ExportSlide, file: str | None) -> dict[str, Any]:
    # A "done" slide whose image could not be read is a failure in this record.
    unreadable = file is None and slide.status == "done"
    return {
        "slide_id": slide.client_id,
        "page_num": slide.page_num,
        "type": slide.slide_type,
        "title": slide.title,
        "content_text": slide.content_text,
        "visual_desc": slide.visual_desc,
        "file": file,
        "image_url": None,
        "final_prompt": slide.final_prompt,
        "status": "error" if unreadable else slide.status,
        "error_message": (slide.error_message or "image file missing or unreadable")
        if unreadable
        else slide.error_message,
        "generation_time": slide.generation_time,
        "attempts": slide.attempts,
        "cost": slide.cost,
        "spent": _paid(slide),
        "cost_estimated": slide.cost_estimated,
        "placeholder": slide.placeholder,
        "warnings": list(slide.warnings),
        "missing": slide.status in _NOT_YET,
    } | ({"status": "pending"} if slide.status in _NOT_YET else {})


def read_manifest(directory: Path) -> ExportDeck:
    """The deck recorded in ``directory/manifest.json``; InputError with the reason if unusable."""
    path = directory / MANIFEST_NAME
    if not directory.is_dir():
        raise InputError(f"{directory}: not a directory")
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise InputError(f"{path}: larger than {MAX_MANIFEST_BYTES} bytes")
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            f"{directory}: no {MANIFEST_NAME} (not written by slidebatch generate?)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    return _ManifestReader(path, directory).deck(raw)


class _ManifestReader:
    """Checks one manifest field by field so every message names the place to fix."""

    def __init__(self, path: Path, directory: Path) -> None:
        self.path = path
        self.root = directory.resolve()

    def fail(self, where: str, problem: str) -> InputError:
        return InputError(f"{self.path}: {where} {problem}")

    def deck(self, raw: object) -> ExportDeck:
        if not isinstance(raw, dict):
            raise self.fail("top level", "must be a JSON object")
        results = raw.get("results")
        if not isinstance(results, list):
            raise self.fail("results", "must be a list")
        slides = [self.slide(item, index) for index, item in enumerate(results)]
        slides.sort(key=lambda s: s.page_num)
        aspect_text = self.text(raw, "aspect_ratio", "") or "16:9"
        try:
            aspect = AspectRatio.parse(aspect_text)
        except InputError as exc:
            raise self.fail("aspect_ratio", f"is invalid: {exc}") from exc
        total_time = raw.get("total_time")
        return ExportDeck(
            title=self.text(raw, "title", ""),
            aspect_ratio=aspect,
            created_at=self.created_at(raw.get("created_at")),
            slides=tuple(slides),
            batch_id=self.text(raw, "batch_id", ""),
            style_prompt=self.text(raw, "style_prompt", ""),
            provider=self.text(raw, "provider", ""),
            total_time=float(total_time) if _is_number(total_time) else None,
        )

    def slide(self, item: object, index: int) -> ExportSlide:
        where = f"results[{index}]"
        if not isinstance(item, dict):
            raise self.fail(where, "must be an object")
        page_num = item.get("page_num", index + 1)
        if isinstance(page_num, bool) or not isinstance(page_num, int):
            raise self.fail(f"{where}.page_num", "must be an integer")
        generation_time = item.get("generation_time")
        attempts = item.get("attempts")
        return ExportSlide(
            page_num=page_num,
            title=self.text(item, "title", where),
            content_text=self.text(item, "content_text", where),
            visual_desc=self.text(item, "visual_desc", where),
            slide_type=self.text(item, "type", where) or "content",
            image_path=self.file(item.get("file"), where),
            status=self.text(item, "status", where) or "error",
            error_message=self.text(item, "error_message", where) or None,
            placeholder=item.get("placeholder") is True,
            client_id=self.text(item, "slide_id", where),
            final_prompt=self.text(item, "final_prompt", where),
            generation_time=float(generation_time) if _is_number(generation_time) else None,
            attempts=attempts
            if isinstance(attempts, int) and not isinstance(attempts, bool)
            else 0,
            warnings=_strings(item.get("warnings")),
            cost=float(item["cost"]) if _is_number(item.get("cost")) else None,
            spent=float(item["spent"]) if _is_number(item.get("spent")) else None,
            cost_estimated=item.get("cost_estimated") is True,
        )

    def text(self, raw: Mapping[str, Any], key: str, where: str) -> str:
        value = raw.get(key)
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        if _is_number(value):
            return str(value)
        raise self.fail(f"{where}.{key}" if where else key, "must be a string")

    def file(self, value: object, where: str) -> Path | None:
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise self.fail(f"{where}.file", "must be a string or null")
        candidate = Path(value)
        resolved = (self.root / candidate).resolve()
        # Also catches symlinks that lead out: resolve() follows them before the check.
        if candidate.is_absolute() or not resolved.is_relative_to(self.root):
            raise self.fail(f"{where}.file", f"{value!r} points outside {self.root}")
        return resolved

    def created_at(self, value: object) -> datetime:
        if value is None:
            return datetime.fromtimestamp(self.path.stat().st_mtime, tz=UTC)
        if not isinstance(value, str):
            raise self.fail("created_at", "must be an ISO 8601 string")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise self.fail("created_at", f"{value!r} is not an ISO 8601 date") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _strings(value: object) -> tuple[str, ...]:
    """A list of strings from the manifest; anything else reads as none."""
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, str))
