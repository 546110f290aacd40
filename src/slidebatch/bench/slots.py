"""Where the in-flight slots' time went in one load run: the gap to the bound, in figures.

With the in-flight cap ``c`` binding, a run of makespan ``T`` had ``c x T`` slot-seconds.
The upstream's drawn latencies used ``work`` of them. The bound ``T*`` is clairvoyant (it
starts the longest requests first); ``T_seq`` (``figures.makespan_in_order``), the best
makespan with the latencies in the order the upstream drew them, is what a perfect
scheduler that cannot see a latency before its answer reaches, and it leaves
``c x T_seq - work`` unused (the ramp and the tail). ``blind = T_seq - T*`` is thus no
scheduler's to win. Everything else is ours or the machine's, and each part is measured:

* ``starting``: slots held before the request left (the 'generating' write), from the
  server's ``slidebatch_attempt_phase_seconds{phase="starting"}``;
* ``fake``: the fake upstream's own time beyond the latency it drew (reading the request,
  oversleeping on a busy bench process), from its request log (arrival to answer);
* ``transit``: the rest of the server's ``upstream`` phase (``phase="upstream"`` minus the
  fake's arrival-to-answer time): the request's and the answer's way through both event
  loops and the network, our reading and checking of the answer;
* ``idle``: slots free with no request (the dispatch loop's delay, a slot waiting for the
  next permit), beyond what ``T_seq`` leaves idle.

Divided by ``c`` each is seconds of makespan: ``T - T* = blind + (starting + fake +
transit + idle) / c``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PHASE_METRIC = "slidebatch_attempt_phase_seconds"
PHASES = ("starting", "upstream", "reporting")


@dataclass(frozen=True, slots=True)
class PhaseTotals:
    """Sums (seconds) and counts of each attempt phase, read from ``/metrics``."""

    seconds: Mapping[str, float]
    counts: Mapping[str, float]

    def minus(self, before: PhaseTotals) -> PhaseTotals:
        """What happened between ``before`` and this reading."""
        return PhaseTotals(
            {p: self.seconds.get(p, 0.0) - before.seconds.get(p, 0.0) for p in PHASES},
            {p: self.counts.get(p, 0.0) - before.counts.get(p, 0.0) for p in PHASES},
        )


def phase_totals(metrics_text: str) -> PhaseTotals:
    """The phase histogram's ``_sum`` and ``_count`` per phase from a ``/metrics`` body."""
    seconds: dict[str, float] = {}
    counts: dict[str, float] = {}
    for line in metrics_text.splitlines():
        if not line.startswith(PHASE_METRIC):
            continue
        name, _, value = line.rpartition(" ")
        if 'phase="' not in name:
            continue
        phase = name.split('phase="', 1)[1].split('"', 1)[0]
        if name.startswith(f"{PHASE_METRIC}_sum"):
            seconds[phase] = float(value)
        elif name.startswith(f"{PHASE_METRIC}_count"):
            counts[phase] = float(value)
    return PhaseTotals(seconds, counts)


@dataclass(frozen=True, slots=True)
class SlotAccount:
    """One run's slot-seconds by where they went (see the module's docstring)."""

    cap: int
    makespan: float
    bound: float
    bound_in_order: float  # T_seq: the best makespan without lookahead
    attempts: int
    work: float  # the latencies the fake drew
    starting: float
    fake: float
    transit: float
    reporting: float  # not slot time (the slot is free by then), shown for its cost

    @property
    def blind(self) -> float:
        """Seconds of makespan lost to not knowing latencies in advance (``T_seq - T*``)."""
        return self.bound_in_order - self.bound

    @property
    def idle(self) -> float:
        """Slot-seconds with no request, beyond what ``T_seq`` itself leaves idle."""
        used = self.work + self.fake + self.transit + self.starting
        return self.cap * self.makespan - used - (self.cap * self.bound_in_order - self.work)

    def seconds_of_makespan(self, slot_seconds: float) -> float:
        """What ``slot_seconds`` cost the makespan with ``cap`` slots."""
        return slot_seconds / self.cap

    def per_attempt_ms(self, slot_seconds: float) -> float:
        return slot_seconds / self.attempts * 1000 if self.attempts else 0.0


def slot_account(
    phases: PhaseTotals,
    fake_rows: Sequence[Mapping[str, Any]],
    *,
    cap: int,
    makespan: float,
    bound: float,
    bound_in_order: float,
) -> SlotAccount:
    """The account of one run from the server's phases and the fake's request log."""
    accepted = [r for r in fake_rows if r["latency_drawn"] is not None and r["end"] is not None]
    work = sum(float(r["latency_drawn"]) for r in accepted)
    at_fake = sum(float(r["end"]) - float(r["arrival"]) for r in accepted)
    return SlotAccount(
        cap=cap,
        makespan=makespan,
        bound=bound,
        bound_in_order=bound_in_order,
        attempts=int(phases.counts.get("upstream", 0)),
        work=work,
        starting=phases.seconds.get("starting", 0.0),
        fake=at_fake - work,
        transit=phases.seconds.get("upstream", 0.0) - at_fake,
        reporting=phases.seconds.get("reporting", 0.0),
    )


def render_account(run: str, database: str, account: SlotAccount) -> str:
    """One table row: each part as seconds of makespan and ms per attempt."""

    def part(slot_seconds: float) -> str:
        return (
            f"{account.seconds_of_makespan(slot_seconds):.2f} s "
            f"({account.per_attempt_ms(slot_seconds):.0f} ms)"
        )

    gap = account.makespan - account.bound
    return (
        f"| {run} | {database} | {gap:.2f} s "
        f"| {account.blind:.2f} s ({account.bound_in_order / account.bound:.2f}) "
        f"| {part(account.starting)} | {part(account.fake)} "
        f"| {part(account.transit)} | {part(account.idle)} "
        f"| {account.per_attempt_ms(account.reporting):.0f} ms |"
    )


ACCOUNT_HEADER = (
    "gap to the bound (makespan - bound) = blind + the slots' losses (bench/slots.py). "
    "blind: the best makespan with the latencies in the order drawn (no scheduler knows a "
    "latency before its answer) minus the bound (that makespan / bound in brackets); then "
    "seconds of makespan (slot-seconds / cap), per attempt in brackets: starting = slot held "
    "before the request left (the 'generating' write); fake = the fake upstream beyond the "
    "latency it drew; transit = the request's and answer's way and our reading of it; idle "
    "= slots with no request beyond the in-order schedule's ramp and tail. reporting: per "
    "attempt, the image stored (the slot is free by then).\n\n"
    "| run | database | gap | blind | starting | fake | transit | idle | reporting |\n"
    "|---|---|---|---|---|---|---|---|---|"
)
