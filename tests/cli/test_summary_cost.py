"""What ``generate`` says about money at its start and end: the price unknown under a cap,
abandoned images carried on by a completing re-run, a free renderer, nothing paid yet."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from slidebatch.cli.resume import Plan
from slidebatch.cli.summary import estimate_line, interrupted, summary
from slidebatch.core.aspect import AspectRatio
from slidebatch.core.cost import CostSource, UnitCost
from slidebatch.core.states import BatchState
from slidebatch.exporters.base import ExportDeck, ExportSlide
from slidebatch.exporters.manifest import manifest_dict

UNKNOWN = UnitCost(None, CostSource.UNKNOWN)


def _slide(page: int, cost: float | None, status: str = "done") -> ExportSlide:
    path = Path(f"p{page}.png") if status == "done" else None
    return ExportSlide(page, f"S{page}", "", "", "content", path, status, cost=cost)


def _manifest(*slides: ExportSlide, uncounted: int = 0, provider: str = "openrouter") -> Any:
    deck = ExportDeck("Deck", AspectRatio(16, 9), datetime(2026, 1, 1, tzinfo=UTC), slides)
    deck = replace(deck, provider=provider)
    return manifest_dict(deck, {}, uncounted=uncounted)


def _said(write: Any) -> str:
    screen = io.StringIO()
    write(Console(file=screen, width=400))
    return " ".join(screen.getvalue().split())


def test_a_cap_with_no_price_says_the_first_image_sets_it() -> None:
    line = estimate_line(Plan(12), 12, UNKNOWN, 0.01)
    assert "price unknown: the first image's cost will set it" in line
    assert "price unknown" not in estimate_line(Plan(12), 12, UNKNOWN)


def test_a_completing_rerun_carries_the_abandoned_images_on() -> None:
    """The manifest keeps ``uncounted_images: 6``; the completed run's summary says so too
    (it used to drop it: only the interrupted path read it)."""
    manifest = _manifest(_slide(1, 0.134), _slide(2, 0.134), uncounted=6)
    said = _said(lambda c: summary(c, manifest, Path("o"), BatchState.COMPLETED, None))
    assert "may be undercounted by 6 images abandoned in flight" in said


def test_the_free_renderer_says_nothing_about_billing() -> None:
    manifest = _manifest(_slide(1, 0.0), _slide(2, None, "pending"), uncounted=4, provider="local")
    said = _said(lambda c: interrupted(c, manifest, Path("o"), [], None))
    assert "bill" not in said
    assert "undercounted" not in said


def test_an_interrupt_before_any_slide_is_done_spent_nothing() -> None:
    """Configured price, 0 slides done: "$0", and the manifest's cost is 0, not unknown."""
    manifest = _manifest(_slide(1, None, "pending"), _slide(2, None, "pending"))
    assert manifest["cost"] == 0
    said = _said(lambda c: interrupted(c, manifest, Path("o"), [], None))
    assert "spent so far: $0;" in said
