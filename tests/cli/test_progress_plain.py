"""generate's progress when stdout is not a terminal: plain lines, not silence, not spinners."""

from __future__ import annotations

import io
from dataclasses import replace

from rich.console import Console
from rich.progress import Progress

from slidebatch.cli.progress_bar import PLAIN_WAIT_EVERY, Bar
from slidebatch.core.states import SlideState
from slidebatch.engine.answers import Progress as SlideProgress
from slidebatch.engine.answers import SlideAnswer
from slidebatch.testing.clock import FakeClock

WAIT = "waiting for the rate limit, next start in {} s"


def slide(page: int, state: SlideState, error: str | None = None) -> SlideAnswer:
    return SlideAnswer(
        batch_id="b",
        slide_id=f"s{page}",
        page_num=page,
        type="content",
        title=f"Slide {page}",
        content_text="",
        visual_desc="",
        state=state,
        image_url=None,
        final_prompt="",
        error_message=error,
        generation_time=None,
        attempts=1,
        placeholder=False,
        cost=None,
    )


def figures(done: int, wait: float | None = None, what: str = "rate_limit") -> SlideProgress:
    progress = SlideProgress(total_slides=4, successful=done, failed=0, estimated_remaining_time=9)
    if wait is None:
        return progress
    return replace(progress, waiting=WAIT.format(round(wait)), next_start_in=wait, waiting_for=what)


def piped_bar(clock: FakeClock) -> tuple[Bar, io.StringIO]:
    screen = io.StringIO()  # not a terminal, as a pipe or a CI log is
    bar = Bar(Progress(console=Console(file=screen, width=200)), total=4)
    bar.use_clock(clock.now)
    return bar, screen


def test_a_piped_run_prints_each_slide_end_and_each_wait_change_at_a_modest_pace() -> None:
    """Not a TTY: one line per slide that ends, one per new wait, the same wait again only
    after PLAIN_WAIT_EVERY seconds of the injected clock, never one per tick."""
    clock = FakeClock(autojump=False)
    bar, screen = piped_bar(clock)
    assert bar.plain
    bar.show(figures(0), slide(1, SlideState.GENERATING))  # not an end: no line
    bar.show(figures(1), slide(1, SlideState.DONE))
    for second in range(int(PLAIN_WAIT_EVERY) + 1):  # the run's once-a-second refresh
        bar.show(figures(1, wait=60.0 - second))
        clock.advance(1.0)
    bar.show(figures(1, wait=3600.0, what="quota"))  # a different wait: said at once
    bar.show(figures(1))  # the wait is over
    bar.show(figures(1, wait=20.0))  # a new wait after it: said again
    bar.show(figures(1), slide(2, SlideState.ERROR, "refused [IMAGE_SAFETY]"))
    lines = [line.strip() for line in screen.getvalue().splitlines() if line.strip()]
    assert lines == [
        "1/4 slides: p1 done",
        "1/4 slides: " + WAIT.format(60),
        "1/4 slides: " + WAIT.format(30),
        "1/4 slides: waiting for the rate limit, next start in 3600 s",
        "1/4 slides: " + WAIT.format(20),
        "1/4 slides: p2 error (refused [IMAGE_SAFETY])",
    ]


def test_a_terminal_gets_the_bar_alone() -> None:
    """On a terminal the live bar says it all: no plain lines."""
    screen = io.StringIO()
    console = Console(file=screen, width=200, force_terminal=True)
    bar = Bar(Progress(console=console), total=4)
    assert not bar.plain
    bar.show(figures(1), slide(1, SlideState.DONE))
    assert "p1 done" not in screen.getvalue()
