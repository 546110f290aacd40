"""The progress bar of ``slidebatch generate``: slides done, what is happening, ETA, spend.

The spend column is the batch's (every slide's ``spent``, earlier runs of a resumed batch
included), the figure the summary and ``manifest.json`` end with. After the first Ctrl-C
the bar keeps moving while the requests in flight land, and says how many are left.

When the console is not a terminal (piped, CI) rich draws no live bar, so a long wait on the
rate limit would print nothing at all: the bar then also prints plain lines, one per slide
that ends and one per change of what the batch waits for, repeated every
``PLAIN_WAIT_EVERY`` seconds of the run's clock while the wait lasts (no spinner, no redraw).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

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

# Seconds of the run's clock between two plain lines about the same wait.
PLAIN_WAIT_EVERY = 30.0


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

    def __init__(self, progress: Progress, total: int, *, plain: bool | None = None) -> None:
        self.progress = progress
        self.total = total
        # Plain lines beside the bar when nobody sees it redrawn (see the module's docstring).
        self.plain = not progress.console.is_terminal if plain is None else plain
        self._now: Callable[[], float] | None = None
        self._wait_said: tuple[str | None, float] | None = None  # (what for, when)
        self._ends_said: set[tuple[str, SlideState]] = set()
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

    def use_clock(self, now: Callable[[], float]) -> None:
        """The run's clock, once the services are up: it spaces repeated plain wait lines."""
        self._now = now

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
        if self.plain and not self.finishing:
            self._plain_lines(slide)

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

    def _plain_lines(self, slide: SlideAnswer | None) -> None:
        figures = self._figures
        done = f"{figures.completed_slides if figures else 0}/{self.total}"
        if slide is not None and slide.state.is_final:
            key = (slide.slide_id, slide.state)
            if key not in self._ends_said:
                self._ends_said.add(key)
                why = f" ({slide.error_message[:60]})" if slide.error_message else ""
                self._plain(f"{done} slides: p{slide.page_num} {slide.state}{why}")
        waiting = figures.waiting if figures else None
        if waiting is None:
            self._wait_said = None
            return
        now = self._now() if self._now is not None else None
        what = figures.waiting_for if figures else None
        said = self._wait_said
        repeat = said is not None and now is not None and now - said[1] >= PLAIN_WAIT_EVERY
        if said is None or said[0] != what or repeat:
            self._wait_said = (what, now if now is not None else 0.0)
            self._plain(f"{done} slides: {waiting}")

    def _plain(self, line: str) -> None:
        self.progress.console.print(line, markup=False, highlight=False)

    def _show_spend(self) -> None:
        spend = spend_of(
            (a.spent, a.cost_estimated, a.state is SlideState.DONE and not a.placeholder)
            for a in self._slides.values()
        )
        if spend.total is not None:
            self.progress.update(self.task, cost=f"spent {spend.text()}")
