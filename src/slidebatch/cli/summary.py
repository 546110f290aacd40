"""What ``slidebatch generate`` says about a run: its estimate first, how it ended last.

Money is said the same way everywhere (``core.cost.Spend.text``): a total with estimated
figures says so, one with images of unknown cost is "at least". The batch's spend and this
run's are named apart when a run continues an earlier one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from slidebatch.cli.resume import Plan
from slidebatch.core.cost import CostSource, UnitCost
from slidebatch.core.states import BatchState
from slidebatch.engine.answers import QuotaWait
from slidebatch.exporters.manifest import MANIFEST_NAME, manifest_spend


def estimate_line(plan: Plan, total: int, unit: UnitCost, max_cost: float | None = None) -> str:
    """The estimate of what this run will pay: only the slides it draws. Under a
    ``max_cost`` with no price known, that the first image's cost sets it."""
    to_draw = plan.to_draw
    if unit.source is CostSource.FREE:
        return "cost: free (offline renderer)"
    if plan.continued is not None and to_draw == 0:
        return "cost estimate: $0 (every slide is done already)"
    which = f"{to_draw} x" if plan.continued is None else f"{to_draw} of {total} slides not done x"
    estimate = unit.estimate(to_draw)
    if estimate is None and max_cost is not None:
        line = (
            f"cost: unknown; price unknown: the first image's cost will set it "
            f"(it goes alone, then as many as --max-cost ${max_cost:g} leaves room for)"
        )
    elif estimate is None:
        line = "cost: unknown (no price yet; set UPSTREAM_PRICE_PER_IMAGE for an estimate)"
    else:
        line = f"cost estimate: ${estimate:.4g} ({which} ${unit.per_image:.4g}, {unit.source})"
    if plan.continued is not None and plan.spent is not None:
        line += f"; the batch spent ${plan.spent:.4g} before this run"
    return line


def spend_line(manifest: dict[str, Any], before: float | None) -> str:
    """The batch's spend, and this run's when it continued a batch that had paid already."""
    spend = manifest_spend(manifest["results"])
    text = spend.text()
    if before and spend.total is not None:
        text += f" (this run ${max(0.0, spend.total - before):.4g})"
    return text


def undercount(manifest: dict[str, Any]) -> str:
    """What the manifest's ``uncounted_images`` (requests abandoned in flight by this run or
    an earlier one of the batch) add to its spend; nothing for the free offline renderer."""
    abandoned = manifest.get("uncounted_images") or 0
    if not abandoned or manifest.get("provider") == "local":
        return ""
    plural = "" if abandoned == 1 else "s"
    return (
        f" (may be undercounted by {abandoned} image{plural} abandoned in flight: "
        "the upstream may bill them)"
    )


def summary(
    console: Console,
    manifest: dict[str, Any],
    out_dir: Path,
    state: BatchState,
    before: float | None,
    took: float | None = None,
) -> None:
    """The last lines of a run that ended: slides, time, spend, the failures and warnings.

    ``took``: this run's seconds, said beside the batch's when the run continued a batch.
    """
    ok, total = manifest["successful"], manifest["total_slides"]
    colour = "green" if ok == total else "red"
    batch_time = manifest["total_time"] or 0.0
    when = f"{batch_time:.1f}s"
    if took is not None:
        when = f"{took:.1f}s this run ({batch_time:.1f}s since the batch started)"
    console.print(
        f"[{colour}]{ok}/{total} slides[/] in {when}, "
        f"spent {spend_line(manifest, before)}{undercount(manifest)} ({state}) -> "
        f"{out_dir / MANIFEST_NAME}"
    )
    for result in manifest["results"]:
        where = f"p{result['page_num']} {_quoted(result['title'])}"
        if result["status"] != "done":
            console.print(f"  [red]{where}: {result['error_message']}[/]")
        for warning in result.get("warnings") or ():
            console.print(f"  [yellow]{where}: {warning}[/]")


def interrupted(
    console: Console,
    manifest: dict[str, Any],
    out_dir: Path,
    formats: list[str],
    before: float | None,
) -> None:
    """The last lines of a run stopped by Ctrl-C."""
    done, total = manifest["successful"], manifest["total_slides"]
    paid = spend_line(manifest, before) + undercount(manifest)
    console.print(f"spent so far: {paid}; wrote {out_dir / MANIFEST_NAME}")
    no_exports(console, formats, "the run was interrupted")
    console.print(
        f"[yellow]Interrupted: {done} of {total} slides done; re-run the same command to "
        "resume (only missing slides are paid)[/]"
    )


def no_exports(console: Console, formats: list[str], why: str) -> None:
    """Say that the files asked for with --pptx/--pdf/--zip were not written, and why."""
    if formats:
        names = "/".join(f".{fmt}" for fmt in formats)
        console.print(
            f"[yellow]no {names} written: {why}; the re-run that finishes the deck writes it[/]"
        )


def quota_stop(console: Console, quota: QuotaWait) -> None:
    when = quota.until.strftime("%Y-%m-%d %H:%M UTC")
    console.print(
        f"[yellow]stopped: the upstream's quota is spent until about {when}.[/]\n"
        f"  {quota.reason}\n"
        "  Run the same command again after that: finished slides are kept, the rest resumes."
    )


def _quoted(title: str) -> str:
    """``title`` as the reader wrote it (repr would turn newer emoji into escapes)."""
    return "'" + escape(title) + "'"
