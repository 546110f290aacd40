"""``slidebatch bench --fleet N``: a fleet of real processes on PostgreSQL, against the bound.

One API process (``serve --no-worker``) and ``N`` workers (``slidebatch worker``) share a
fresh PostgreSQL database (created for the run, dropped after) and the fake upstream at the
bench's limit (20 requests per window, the limit configured). Two figures per repeat:

- the multi-batch scenario (batches submitted together): makespan over the bound and over
  the online bound (no lookahead), and the 429s the upstream answered;
- ``kill -9`` of one worker mid-batch: seconds from the kill until the batch is final
  (goal: within the lease + 30 s), requests the upstream saw beyond one per slide (goal: at
  most the slides the killed worker held), slides stored twice (goal: none).

Times are wall seconds except makespans and bounds (unscaled upstream seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx

from slidebatch.bench.environment import (
    IN_FLIGHT_CAP,
    RATE,
    WINDOW,
    BenchEnvironment,
    EnvironmentConfig,
    server_env,
)
from slidebatch.bench.figures import RunFigures, run_figures, upstream_counts
from slidebatch.bench.scenarios import BatchSpec, Scenario, deck_body
from slidebatch.bench.service_run import FINAL_STATES, run_service
from slidebatch.testing.serve_process import free_port, start_serve, stop_serve

Say = Callable[[str], None]
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
_TIMEOUT_WALL = 900.0


@dataclass(frozen=True, slots=True)
class KillFigures:
    """One kill -9 run (wall seconds)."""

    slides: int
    done: int
    held_by_killed: int
    repeats: int  # upstream requests beyond one per slide
    stored_twice: int  # slides with more than one slide_completed event
    recovery_s: float  # kill -> batch final
    lease_s: float
    killed_slides_done_s: float  # kill -> the last of the killed worker's slides stored


@dataclass(frozen=True, slots=True)
class WindowUse:
    """How the fleet used the upstream's window in one run (unscaled seconds), from the
    fake upstream's own times: a slot frees one window after the start that took it
    (``R`` starts earlier); ``idle`` is how long each freed slot sat unused before the
    next accepted start took it (the round, the wake-up, the margin: what a fleet loses
    per window chain), and ``early`` how far each 429 arrived before its slot freed."""

    idle: tuple[float, ...]
    early: tuple[float, ...]

    def as_json(self) -> dict[str, Any]:
        idle = sorted(self.idle)

        def at(q: float) -> float | None:
            return round(idle[min(len(idle) - 1, int(q * len(idle)))], 3) if idle else None

        return {
            "slot_idle_p50_s": at(0.5),
            "slot_idle_p90_s": at(0.9),
            "slot_idle_max_s": at(1.0),
            "slot_idle_mean_s": round(statistics.mean(idle), 3) if idle else None,
            "rate_limited_early_by_s": [round(e, 3) for e in self.early],
        }


def window_use(stats: dict[str, Any], *, rate: int, window: float) -> WindowUse:
    """``WindowUse`` of a run from the fake upstream's ``/stats`` (``window`` unscaled)."""
    scale = float(stats["time_scale"])
    rows = stats["requests"]
    accepted = sorted(float(r["start"]) / scale for r in rows if r["latency_drawn"] is not None)
    idle = tuple(accepted[k] - (accepted[k - rate] + window) for k in range(rate, len(accepted)))
    early = []
    for row in rows:
        if row["outcome"] != "rate_limited":
            continue
        at = float(row["arrival"]) / scale
        before = [a for a in accepted if a <= at]
        if len(before) >= rate:
            early.append(before[-rate] + window - at)
    return WindowUse(idle, tuple(early))


@dataclass(slots=True)
class FleetReport:
    """Every repeat's figures, and their medians."""

    workers: int
    time_scale: float
    runs: list[RunFigures] = field(default_factory=list)
    windows: list[WindowUse] = field(default_factory=list)
    kills: list[KillFigures] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        def median(values: list[float]) -> float | None:
            return round(statistics.median(values), 4) if values else None

        return {
            "workers": self.workers,
            "time_scale": self.time_scale,
            "multi_batch": [r.as_json() for r in self.runs],
            "window_use": [w.as_json() for w in self.windows],
            "median_ratio": median([r.ratio for r in self.runs]),
            "median_ratio_online": median([r.ratio_in_order for r in self.runs]),
            "rate_limited_total": sum(r.rate_limited for r in self.runs),
            "kill": [_kill_json(k) for k in self.kills],
            "median_batch_final_after_kill_s": median([k.recovery_s for k in self.kills]),
            "median_killed_slides_done_after_kill_s": median(
                [k.killed_slides_done_s for k in self.kills]
            ),
        }


def _kill_json(kill: KillFigures) -> dict[str, Any]:
    return {
        "slides": kill.slides,
        "done": kill.done,
        "held_by_killed_worker": kill.held_by_killed,
        "repeated_requests": kill.repeats,
        "stored_twice": kill.stored_twice,
        "batch_final_after_kill_s": round(kill.recovery_s, 3),
        "killed_slides_done_after_kill_s": round(kill.killed_slides_done_s, 3),
        "lease_s": kill.lease_s,
        "within_lease_plus_30s": kill.killed_slides_done_s <= kill.lease_s + 30,
    }


def multi_batch_scenario(*, quick: bool) -> Scenario:
    """The bench's multi-batch scenario (the same as a single process's)."""
    if quick:
        return Scenario("3 batches x 8 slides together", (BatchSpec(8),) * 3, wait=False)
    return Scenario("8 batches x 15 slides together", (BatchSpec(15),) * 8, wait=False)


def run_fleet_bench(
    *,
    workers: int,
    time_scale: float,
    repeat: int,
    quick: bool,
    root: Path,
    say: Say,
    kill: bool = True,
) -> FleetReport:
    """Start the fleet ``repeat`` times (a fresh database each) and measure both figures
    (``kill`` False: the multi-batch scenario only)."""
    report = FleetReport(workers, time_scale)
    for number in range(1, repeat + 1):
        with (
            _database() as url,
            _FleetEnvironment(root / f"r{number}", url, workers, time_scale) as env,
        ):
            say(f"repeat {number}: warming up")
            with httpx.Client(base_url=env.base_url, timeout=60) as client:
                run_service(client, Scenario("warm-up", (BatchSpec(1),)), f"w{number}", timeout=120)
                env.drain()
                scenario = multi_batch_scenario(quick=quick)
                say(f"repeat {number}: {scenario.name}")
                report.runs.append(_multi_batch(env, client, scenario, f"m{number}"))
                report.windows.append(window_use(env.fake.stats(), rate=RATE, window=WINDOW))
                if not kill:
                    continue
                env.drain()
                say(f"repeat {number}: kill -9 of one worker mid-batch")
                report.kills.append(_kill_run(env, client, 20 if quick else 40, f"k{number}"))
    return report


def _multi_batch(
    env: _FleetEnvironment, client: httpx.Client, scenario: Scenario, tag: str
) -> RunFigures:
    run = run_service(client, scenario, tag, timeout=_TIMEOUT_WALL)
    return run_figures(
        name=f"fleet of {len(env.workers)}: {scenario.name}",
        system="slidebatch",
        slides=scenario.slides,
        successful=run.successful,
        makespan=run.makespan / env.config.time_scale,
        counts=upstream_counts(env.fake.stats()),
        rate=RATE,
        window=WINDOW,
        cap=scenario.bound_cap(IN_FLIGHT_CAP),
    )


def _kill_run(env: _FleetEnvironment, client: httpx.Client, slides: int, tag: str) -> KillFigures:
    body = deck_body(BatchSpec(slides), tag)
    response = client.post("/api/slide/batch/generate", params={"wait": "false"}, json=body)
    response.raise_for_status()
    batch_id = str(response.json()["batch_id"])
    victim = _wait_for_leases(env, batch_id)
    env.kill(victim)
    killed_at, killed_wall = time.monotonic(), time.time()
    keys = _query_keys(
        env.database_url,
        "SELECT key FROM slides WHERE state = 'generating' AND lease_owner LIKE $1",
        f"%:{victim}:%",
    )
    held = len(keys)
    status = _wait_final(client, batch_id)
    recovery = time.monotonic() - killed_at
    victims_done = _query_epoch(
        env.database_url,
        "SELECT extract(epoch FROM max(finished_at)) FROM slides"
        " WHERE batch_id = $1 AND key = ANY($2::int[])",
        batch_id,
        keys,
    )
    completed = _completed_keys(env, batch_id)
    requests = int(env.fake.stats()["totals"]["requests"])
    return KillFigures(
        slides=slides,
        done=int(status["successful"]),
        held_by_killed=held,
        repeats=requests - slides,
        stored_twice=sum(1 for n in completed.values() if n > 1),
        recovery_s=recovery,
        lease_s=env.lease,
        killed_slides_done_s=(victims_done - killed_wall) if victims_done else 0.0,
    )


def _wait_for_leases(env: _FleetEnvironment, batch_id: str) -> int:
    """The pid of a worker holding at least two of the batch's slides (waits for one)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for pid in env.workers:
            held = _query_int(
                env.database_url,
                "SELECT count(*) FROM slides WHERE batch_id = $1 AND state = 'generating'"
                " AND lease_owner LIKE $2",
                batch_id,
                f"%:{pid}:%",
            )
            if held >= 2:
                return pid
        time.sleep(0.05)
    raise TimeoutError("no worker claimed the batch's slides")


def _wait_final(client: httpx.Client, batch_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + _TIMEOUT_WALL
    while time.monotonic() < deadline:
        status: dict[str, Any] = client.get(f"/api/slide/batch/{batch_id}").json()
        if status["status"] in FINAL_STATES:
            return status
        time.sleep(0.1)
    raise TimeoutError(f"batch {batch_id} not final")


def _completed_keys(env: _FleetEnvironment, batch_id: str) -> dict[int, int]:
    import json

    counts: dict[int, int] = {}
    for path in sorted((env.config.root / "logs").glob("pipeline_*.log")):
        for line in path.read_text(encoding="utf-8").splitlines():
            event = json.loads(line)
            if event["event"] == "slide_completed" and event["batch_id"] == batch_id:
                key = int(event["details"]["slide_key"])
                counts[key] = counts.get(key, 0) + 1
    return counts


def _query_int(url: str, sql: str, *args: object) -> int:
    async def run() -> int:
        connection = await asyncpg.connect(url, timeout=10)
        try:
            return int(await connection.fetchval(sql, *args))
        finally:
            await connection.close()

    return asyncio.run(run())


def _query_keys(url: str, sql: str, *args: object) -> list[int]:
    async def run() -> list[int]:
        connection = await asyncpg.connect(url, timeout=10)
        try:
            return [int(r[0]) for r in await connection.fetch(sql, *args)]
        finally:
            await connection.close()

    return asyncio.run(run())


def _query_epoch(url: str, sql: str, *args: object) -> float | None:
    async def run() -> float | None:
        connection = await asyncpg.connect(url, timeout=10)
        try:
            value = await connection.fetchval(sql, *args)
            return None if value is None else float(value)
        finally:
            await connection.close()

    return asyncio.run(run())


@contextlib.contextmanager
def _database() -> Iterator[str]:
    """A fresh PostgreSQL database for one repeat, dropped afterwards."""
    name = f"slidebatch_bench_{secrets.token_hex(5)}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        _admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            f" WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        )
        _admin(f'DROP DATABASE IF EXISTS "{name}"')


def _admin(sql: str) -> None:
    async def run() -> None:
        connection = await asyncpg.connect(ADMIN_URL, timeout=10)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run())


class _FleetEnvironment(BenchEnvironment):
    """The bench's fake upstream with an API process and ``workers`` worker processes."""

    def __init__(self, root: Path, database_url: str, workers: int, time_scale: float) -> None:
        super().__init__(
            EnvironmentConfig(root=root, time_scale=time_scale, database_url=database_url)
        )
        self.database_url = database_url
        self.lease = max(3.0, 30.0 * time_scale)
        self.worker_count = workers
        self.workers: dict[int, subprocess.Popen[bytes]] = {}

    def __enter__(self) -> _FleetEnvironment:
        super().__enter__()
        return self

    def server_env(self) -> dict[str, str]:
        env = server_env(self.config, self.fake.openrouter_base)
        env["FLEET_LEASE_SECONDS"] = f"{self.lease:g}"
        env["FLEET_POLL_SECONDS"] = f"{max(0.1, time_scale_poll(self.config.time_scale)):g}"
        return env

    def _start_server(self, timeout: float = 60.0) -> None:
        env, root = self.server_env(), self.config.root
        self._process = start_serve(
            port=self.port, env=env, cwd=root, timeout=timeout, args=("serve", "--no-worker")
        )
        for _ in range(self.worker_count):
            process = start_serve(port=free_port(), env=env, cwd=root, args=("worker",))
            self.workers[process.pid] = process

    def _stop_server(self) -> None:
        for process in self.workers.values():
            stop_serve(process)
        super()._stop_server()

    def kill(self, pid: int) -> None:
        process = self.workers.pop(pid)
        process.send_signal(signal.SIGKILL)
        process.wait(10)


def time_scale_poll(time_scale: float) -> float:
    """How often a worker looks for work besides NOTIFY: a second of upstream time."""
    return 1.0 * time_scale
