"""What a manifest and ``generate``'s summary say about money when not every price is known."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from slidebatch.cli.summary import summary
from slidebatch.core.aspect import AspectRatio
from slidebatch.core.cost import Spend
from slidebatch.core.states import BatchState
from slidebatch.exporters.base import ExportDeck, ExportSlide
from slidebatch.exporters.manifest import manifest_dict


def _deck(*slides: ExportSlide) -> ExportDeck:
    return ExportDeck("Deck", AspectRatio(16, 9), datetime(2026, 1, 1, tzinfo=UTC), slides)


def _slide(page: int, cost: float | None, *, estimated: bool = False) -> ExportSlide:
    return ExportSlide(
        page, f"S{page}", "", "", "content", Path(f"p{page}.png"), "done",
        cost=cost, cost_estimated=estimated,
    )  # fmt: skip


def _summary_of(manifest: dict[str, object]) -> str:
    screen = io.StringIO()
    summary(Console(file=screen, width=300), manifest, Path("o"), BatchState.COMPLETED, None)
    return " ".join(screen.getvalue().split())


def test_one_estimated_image_among_unknown_ones_is_a_lower_bound_marked_estimated() -> None:
    """One image reconciled at the model's price, 11 whose price nobody reported: the total
    is not a known cost: the manifest marks it estimated with 11 costs unknown, and the
    summary says "at least $0.05 (estimated), 11 costs unknown"."""
    slides = [_slide(1, 0.05, estimated=True), *(_slide(p, None) for p in range(2, 13))]
    manifest = manifest_dict(_deck(*slides), {i: f"p{i + 1}.png" for i in range(12)})
    assert manifest["cost"] == 0.05
    assert manifest["cost_estimated"] is True
    assert manifest["costs_unknown"] == 11
    assert "spent at least $0.05 (estimated), 11 costs unknown (completed)" in _summary_of(manifest)


def test_reported_costs_read_as_a_plain_total() -> None:
    """Every image priced by the provider: a plain total, nothing estimated or unknown."""
    manifest = manifest_dict(_deck(_slide(1, 0.1), _slide(2, 0.2)), {0: "a.png", 1: "b.png"})
    assert (manifest["cost"], manifest["cost_estimated"], manifest["costs_unknown"]) == (
        0.3,
        False,
        0,
    )
    assert "spent $0.3 (completed)" in _summary_of(manifest)


def test_spend_text_names_estimates_and_unknowns() -> None:
    """The phrases: unknown, plain, estimated in part, and a lower bound."""
    assert Spend(None, 0.0, 3).text() == "cost unknown"
    assert Spend(0.0).text() == "$0"
    assert Spend(0.3, 0.1).text() == "$0.3 ($0.1 of it estimated)"
    assert Spend(0.3, 0.0, 1).text() == "at least $0.3, 1 cost unknown"
