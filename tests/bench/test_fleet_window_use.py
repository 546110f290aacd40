"""The fleet bench's window figures: idle slots and early 429s, from the upstream's times."""

from __future__ import annotations

from typing import Any

from slidebatch.bench.fleet import window_use


def _row(start: float | None, *, arrival: float | None = None) -> dict[str, Any]:
    accepted = start is not None
    return {
        "arrival": arrival if arrival is not None else start,
        "start": start,
        "latency_drawn": 9.0 if accepted else None,
        "outcome": "ok" if accepted else "rate_limited",
    }


def test_idle_is_how_long_each_freed_slot_sat_unused() -> None:
    """Two per 10 s: starts at 0, 0, 10.5, 11, 21: slots sat 0.5, 1 and 0.5 s (scaled 0.1)."""
    times = [0.0, 0.0, 10.5, 11.0, 21.0]
    stats = {"time_scale": 0.1, "requests": [_row(t * 0.1) for t in times]}
    use = window_use(stats, rate=2, window=10.0)
    assert [round(i, 6) for i in use.idle] == [0.5, 1.0, 0.5]
    assert use.as_json()["slot_idle_max_s"] == 1.0


def test_a_429_says_how_early_it_came() -> None:
    """A request refused at 9.8 s, when the slot of the start at 0 freed at 10: 0.2 s early."""
    rows = [_row(0.0), _row(0.0), _row(None, arrival=9.8), _row(10.0)]
    use = window_use({"time_scale": 1.0, "requests": rows}, rate=2, window=10.0)
    assert [round(e, 6) for e in use.early] == [0.2]
