"""The progress bar of ``slidebatch generate``: slides done, what is happening, ETA, spend.

The spend column is the batch's (every slide's ``spent``, earlier runs of a resumed batch
included), the figure the summary and ``manifest.json`` end with. After the first Ctrl-C
the bar keeps moving while the requests in flight land, and says how many are left.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from slidebatch.core.cost import spend_of
from slidebatch.core.states import SlideState
from slidebatch.engine.answers import Progress as SlideProgress
from slidebatch.engine.answers import SlideAnswer


def finishing_text(in_flight: int) -> str:
    """The line printed at the first Ctrl-C, with the number in flight."""
    if in_flight == 1:
        return "finishing 1 in-flight image, Ctrl-C again to abandon it"
    return f"finishing {in_flight} in-flight images, Ctrl-C again to abandon them"


def _finishing_detail(in_flight: int) -> str:
    """The bar's short form of it (the bar shares a line with the count, time and spend)."""
    if in_flight == 0:
        return "in-flight images landed, writing what is done"
    return f"finishing {in_flight} in-flight image{'' if in_flight == 1 else 's'}"


def make_progress(console: Console) -> Progress:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        TextColumn("ETA {task.fields[eta]}"),
        TextColumn("{task.fields[cost]}"),
    )
    return Progress(*columns, console=console, transient=False)


class Bar:
    """One task of a rich ``Progress``, fed with the batch's answers."""

    def __init__(self, progress: Progress, total: int) -> None:
        self.progress = progress
        self.task: TaskID = progress.add_task(
            "starting", total=total, detail="opening the database", eta="-", cost=""
        )
        # Set on the first Ctrl-C: no new request starts, those in flight land.
        self.finishing = False
        self._figures: SlideProgress | None = None
        self._slides: dict[str, SlideAnswer] = {}

    def say(self, text: str) -> None:
        """A line above the bar."""
        self.progress.console.print(text)

    def note(self, detail: str, description: str | None = None) -> None:
        self.progress.update(self.task, description=description, detail=detail)

    def slides(self, answers: Iterable[SlideAnswer]) -> None:
        """Every slide's answer as the run starts: the spend so far."""
        for answer in answers:
            self._slides[answer.slide_id] = answer
        self._show_spend()

    def show(self, figures: SlideProgress | None, slide: SlideAnswer | None = None) -> None:
        """A new answer: the count, what happened last, the ETA and the spend."""
        if figures is not None:
            self._figures = figures
        if slide is not None:
            self._slides[slide.slide_id] = slide
            self._show_spend()
        detail = f"p{slide.page_num} {slide.state}" if slide else ""
        if figures is not None and figures.waiting:
            detail = figures.waiting
        if slide and slide.error_message and slide.state is not SlideState.DONE:
            detail += f" ({slide.error_message[:60]})"
        self._draw(detail)

    def refresh(self) -> None:
        """Draw again with what is known (the number in flight moves without an event)."""
        self._draw("")

    def _draw(self, detail: str) -> None:
        figures = self._figures
        eta = figures.estimated_remaining_time if figures else None
        if self.finishing:
            # The whole deck's ETA no longer applies: only the requests in flight remain,
            # counted from the same events that move the bar.
            left = sum(1 for a in self._slides.values() if a.state is SlideState.GENERATING)
            detail, eta = _finishing_detail(left), None
        completed = figures.completed_slides if figures else None
        self.progress.update(
            self.task,
            completed=completed,
            detail=detail,
            eta="-" if eta is None else f"{eta:.0f}s",
        )

    def _show_spend(self) -> None:
        spend = spend_of(
            (a.spent, a.cost_estimated, a.state is SlideState.DONE and not a.placeholder)
            for a in self._slides.values()
        )
        if spend.total is not None:
            self.progress.update(self.task, cost=f"spent {spend.text()}")
