"""``slidebatch bench --load``: the API under pollers and concurrent submits, per database.

The fake upstream allows 600 requests per 3 s window with a median latency of 0.45 s, so the
in-flight cap (32) binds, not the rate. A real ``slidebatch serve`` runs once on SQLite and
once on PostgreSQL; this process is the upstream and the clients, sharing the machine.

Scenarios (each after the previous one's window has passed):

* one 200-slide batch with no poller (the synchronous generate call);
* the same with 4 status polls per second (the seed's frontend), then with 40 (ten such
  pollers: the issue's goal is a 200-slide batch's status p99 at 40 polls per second, and
  about 150 polls make a p99 that is not simply the slowest one);
* 30 batches of 20 slides submitted at once (the submit latency is measured), then polled
  at about 40 status requests per second in all until every batch ends;
* the list of 200 batches (``GET /api/slide/batch?limit=200``).

Makespan is the server's own ``finished_at - created_at``; the bound is
``core.bound.makespan_bound`` over the latencies the fake upstream drew, with the cap. The
event-loop lag p99 is read from ``slidebatch_event_loop_lag_seconds`` (a bucket's upper edge).
"""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from slidebatch.bench.environment import IN_FLIGHT_CAP, BenchEnvironment, EnvironmentConfig
from slidebatch.bench.figures import makespan_in_order, upstream_counts
from slidebatch.bench.scenarios import BatchSpec, deck_body
from slidebatch.bench.slots import (
    ACCOUNT_HEADER,
    PhaseTotals,
    SlotAccount,
    phase_totals,
    render_account,
    slot_account,
)
from slidebatch.core.bound import makespan_bound
from slidebatch.providers.registry import KEEPALIVE_EXPIRY_S

RATE = 600
WINDOW = 3.0
LATENCY_MEDIAN = 0.45
LATENCY_P95 = 0.9
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
# Polls per second of one poller at most: the seed's frontend asks four times a second.
POLLER_RATE = 4.0


@dataclass(frozen=True, slots=True)
class LoadRow:
    """One run: makespan against the bound, and what the status polls cost."""

    run: str
    database: str
    pollers: str
    makespan: float
    bound: float
    status_ms: tuple[float, ...]  # every status poll's latency
    lag_p99_ms: float | None
    # The server process's CPU seconds (user + system) during the run, and the machine's
    # 1-minute load average at its end: a slow run on a busy machine is told apart from a
    # server that worked more.
    cpu_seconds: float | None = None
    load_average: float | None = None
    slots: SlotAccount | None = None  # where the slots' time went (``bench/slots.py``)

    @property
    def ratio(self) -> float:
        return self.makespan / self.bound if self.bound else float("inf")


@dataclass(frozen=True, slots=True)
class ApiFigures:
    """Submit and list latencies on one database."""

    database: str
    submit_ms: tuple[float, ...]
    list_ms: tuple[float, ...]
    listed: int
    list_cpu_seconds: float | None = None  # the server's CPU over all the timed lists


@dataclass(frozen=True, slots=True)
class LoadReport:
    rows: tuple[LoadRow, ...]
    api: tuple[ApiFigures, ...]


def percentile(values: Sequence[float], share: float) -> float:
    """The ``share`` quantile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def _config(root: Path, database_url: str | None) -> EnvironmentConfig:
    return EnvironmentConfig(
        root=root,
        time_scale=1.0,
        rate=RATE,
        window=WINDOW,
        latency_median=LATENCY_MEDIAN,
        latency_p95=LATENCY_P95,
        llm_timeout=30.0,
        database_url=database_url,
        max_concurrent=32,
    )


async def _timed(client: httpx.AsyncClient, method: str, url: str, **kw: Any) -> float:
    started = time.perf_counter()
    answer = await client.request(method, url, **kw)
    answer.raise_for_status()
    return (time.perf_counter() - started) * 1000


async def _poll(
    client: httpx.AsyncClient, ids: Sequence[str], per_second: float, seen: list[float]
) -> None:
    """Poll every batch's status (``per_second`` in all) until it ends: one poller per
    batch, more when one would have to ask faster than ``POLLER_RATE`` (``pollers``), all
    of them spread over the period (``first_polls``)."""
    watched = pollers(ids, per_second)
    each = per_second / len(watched)
    delays = first_polls(len(watched), each)

    async def one(index: int, batch_id: str) -> None:
        await asyncio.sleep(delays[index])
        while True:
            started = time.perf_counter()
            answer = await client.get(f"/api/slide/batch/{batch_id}")
            seen.append((time.perf_counter() - started) * 1000)
            if answer.json()["status"] not in ("queued", "running"):
                return
            await asyncio.sleep(max(0.0, 1 / each - (time.perf_counter() - started)))

    await asyncio.gather(*(one(index, batch_id) for index, batch_id in enumerate(watched)))


def first_polls(count: int, each: float) -> list[float]:
    """When each of ``count`` pollers asking ``each`` times a second first asks (seconds):
    evenly over one period, as independent browser tabs would.

    Spread only among one batch's pollers, the 30 pollers of the 30-batch run asked in the
    same millisecond every 0.75 s, and the last of each burst waited for the other 29 (the
    run's status p99 measured that queue, 60-190 ms, not one poll's latency).
    """
    return [index / count / each for index in range(count)]


def pollers(ids: Sequence[str], per_second: float) -> list[str]:
    """The batch each poller watches, ``per_second`` polls in all: one poller per batch, and
    as many per batch as keep each at ``POLLER_RATE`` or below (as more browser tabs would)."""
    per_batch = max(1, math.ceil(per_second / POLLER_RATE / len(ids)))
    return [batch_id for batch_id in ids for _ in range(per_batch)]


async def _makespan(client: httpx.AsyncClient, ids: Sequence[str]) -> float:
    """From the first batch's creation to the last one's end, by the server's clock."""
    bodies = [(await client.get(f"/api/slide/batch/{i}")).json() for i in ids]
    created = min(datetime.fromisoformat(b["created_at"]) for b in bodies)
    finished = max(datetime.fromisoformat(b["finished_at"]) for b in bodies)
    return (finished - created).total_seconds()


async def _phases(client: httpx.AsyncClient) -> PhaseTotals:
    return phase_totals((await client.get("/metrics")).text)


async def lag_buckets(client: httpx.AsyncClient) -> dict[float, float]:
    text = (await client.get("/metrics")).text
    buckets: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith("slidebatch_event_loop_lag_seconds_bucket"):
            edge = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[float("inf") if edge == "+Inf" else float(edge)] = float(line.split()[-1])
    return buckets


def lag_p99_ms(before: dict[float, float], after: dict[float, float]) -> float | None:
    """The upper edge of the bucket holding the 99th percentile of the samples in between."""
    counts = {edge: after.get(edge, 0.0) - before.get(edge, 0.0) for edge in after}
    total = counts.get(float("inf"), 0.0)
    if total <= 0:
        return None
    for edge in sorted(counts):
        if counts[edge] >= 0.99 * total:
            return edge * 1000
    return None


def _spent(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


def _figure(value: float | None, spec: str, unit: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{unit}"


def _submit_body(slides: int, tag: str) -> dict[str, Any]:
    return deck_body(BatchSpec(slides), tag)


async def _batches_run(
    env: BenchEnvironment,
    client: httpx.AsyncClient,
    name: str,
    spec: tuple[int, int],
    polls_per_second: float,
    submits: list[float],
) -> LoadRow:
    """``spec`` = (batches, slides each); polled at ``polls_per_second`` in all (0: none)."""
    env.fake.reset_stats()
    count, slides = spec
    before = await lag_buckets(client)
    phases_before = await _phases(client)
    cpu_before = env.server_cpu_seconds()
    seen: list[float] = []
    if polls_per_second == 0 and count == 1:
        answer = await client.post("/api/slide/batch/generate", json=_submit_body(slides, name))
        ids = [answer.json()["batch_id"]]
    else:
        url = "/api/slide/batch/generate?wait=false"

        async def submit(n: int) -> str:
            started = time.perf_counter()
            answer = await client.post(url, json=_submit_body(slides, f"{name}-{n}"))
            submits.append((time.perf_counter() - started) * 1000)
            return str(answer.json()["batch_id"])

        ids = list(await asyncio.gather(*(submit(n) for n in range(count))))
        await _poll(client, ids, polls_per_second, seen)
    cpu = _spent(cpu_before, env.server_cpu_seconds())
    lag = lag_p99_ms(before, await lag_buckets(client))
    phases = (await _phases(client)).minus(phases_before)
    makespan = await _makespan(client, ids)
    stats = env.fake.stats()
    latencies = upstream_counts(stats).latencies
    bound = makespan_bound(latencies, rate=RATE, window=WINDOW, cap=IN_FLIGHT_CAP)
    in_order = makespan_in_order(latencies, rate=RATE, window=WINDOW, cap=IN_FLIGHT_CAP)
    slots = slot_account(
        phases,
        stats["requests"],
        cap=IN_FLIGHT_CAP,
        makespan=makespan,
        bound=bound,
        bound_in_order=in_order,
    )
    pollers = f"{polls_per_second:g} per second" if polls_per_second else "none"
    database = "PostgreSQL" if env.config.database_url else "SQLite"
    return LoadRow(
        name,
        database,
        pollers,
        makespan,
        bound,
        tuple(seen),
        lag,
        cpu,
        os.getloadavg()[0],
        slots=slots,
    )


async def until_settled(client: httpx.AsyncClient, every: float = 0.25) -> None:
    """Until none of the newest 200 batches is queued or running.

    The list's filler batches are waited for: timed while they ran, the lists measured the
    dispatch beside them, and the server was stopped with their requests in flight at the
    fake upstream (which uvicorn then cancelled with a traceback after its 1 s grace).
    """
    while True:
        page = (await client.get("/api/slide/batch", params={"limit": 200})).json()
        if not unsettled(page["items"]):
            return
        await asyncio.sleep(every)


def unsettled(items: Sequence[dict[str, Any]]) -> int:
    """How many of the listed batches are still queued or running."""
    return sum(1 for item in items if item["status"] in ("queued", "running"))


async def _list_figures(
    env: BenchEnvironment, client: httpx.AsyncClient, database: str, runs: int
) -> ApiFigures:
    listed = (await client.get("/api/slide/batch", params={"limit": 200})).json()["total"]
    while listed < 200:
        more = min(50, 200 - listed)
        url = "/api/slide/batch/generate?wait=false"
        await asyncio.gather(
            *(client.post(url, json=_submit_body(1, f"list-{listed + n}")) for n in range(more))
        )
        listed += more
    await until_settled(client)
    cpu_before = env.server_cpu_seconds()
    times = [
        await _timed(client, "GET", "/api/slide/batch", params={"limit": 200}) for _ in range(runs)
    ]
    cpu = _spent(cpu_before, env.server_cpu_seconds())
    return ApiFigures(database, (), tuple(times), listed, cpu)


async def _scenarios(env: BenchEnvironment, quick: bool) -> tuple[list[LoadRow], ApiFigures]:
    big, many = (50, (10, 10)) if quick else (200, (30, 20))
    submits: list[float] = []
    # Idle connections go before the server's 5 s keep-alive closes one under a poll (an
    # httpx.ReadError that ended a loaded run), as the upstream client's do.
    limits = httpx.Limits(
        max_connections=200, max_keepalive_connections=200, keepalive_expiry=KEEPALIVE_EXPIRY_S
    )
    async with httpx.AsyncClient(base_url=env.base_url, timeout=300, limits=limits) as client:
        rows = [await _batches_run(env, client, f"1 x {big} slides", (1, big), 0, submits)]
        await asyncio.sleep(WINDOW * 1.05)
        for rate in (4, 40):
            rows.append(await _batches_run(env, client, f"1 x {big} slides", (1, big), rate, []))
            await asyncio.sleep(WINDOW * 1.05)
        name = f"{many[0]} x {many[1]} slides"
        rows.append(await _batches_run(env, client, name, many, 40, submits))
        database = rows[0].database
        api = await _list_figures(env, client, database, 10 if quick else 30)
    return rows, replace(api, submit_ms=tuple(submits[-many[0] :]))


def run_database(
    root: Path, database_url: str | None, *, quick: bool
) -> tuple[list[LoadRow], ApiFigures]:
    """Every scenario against one server on one database."""
    with BenchEnvironment(_config(root, database_url)) as env:
        return asyncio.run(_scenarios(env, quick))


def render_table(report: LoadReport) -> str:
    """The issue's table, then the submit, list and lag figures."""
    lines = [
        f"fake upstream: {RATE} requests per {WINDOW:g} s window, latency median "
        f"{LATENCY_MEDIAN:g} s (p95 {LATENCY_P95:g} s); in-flight cap {IN_FLIGHT_CAP} binds",
        "",
        "server CPU: the server process's CPU seconds (user + system) during the run, "
        "PostgreSQL's own processes not included; load: the machine's 1-minute load average "
        "at the run's end",
        "",
        "| run | database | pollers | makespan / bound | status p50 / p99 | loop lag p99 "
        "| server CPU | load |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in report.rows:
        status = "-"
        if row.status_ms:
            status = f"{_p50_p99(row.status_ms)} ({len(row.status_ms)} polls)"
        lag = "-" if row.lag_p99_ms is None else f"<= {row.lag_p99_ms:g} ms"
        lines.append(
            f"| {row.run} | {row.database} | {row.pollers} | {row.ratio:.2f} "
            f"({row.makespan:.1f} s / {row.bound:.1f} s) | {status} | {lag} "
            f"| {_figure(row.cpu_seconds, '.1f', ' s')} | {_figure(row.load_average, '.2f')} |"
        )
    lines += ["", ACCOUNT_HEADER]
    lines += [
        render_account(row.run, row.database, row.slots)
        for row in report.rows
        if row.slots is not None
    ]
    lines += [
        "",
        "| database | submits at once: p50 / p99 | list of 200: p50 / p99 | server CPU per list |",
        "|---|---|---|---|",
    ]
    for api in report.api:
        submit = (
            f"{statistics.median(api.submit_ms):.0f} / {percentile(api.submit_ms, 0.99):.0f} ms"
        )
        listing = f"{statistics.median(api.list_ms):.1f} / {percentile(api.list_ms, 0.99):.1f} ms"
        per_list = None
        if api.list_cpu_seconds is not None and api.list_ms:
            per_list = api.list_cpu_seconds / len(api.list_ms) * 1000
        lines.append(
            f"| {api.database} | {submit} ({len(api.submit_ms)}) | {listing} "
            f"| {_figure(per_list, '.1f', ' ms')} |"
        )
    return "\n".join(lines)


def _p50_p99(values: Sequence[float], spec: str = ".1f") -> str:
    return f"{statistics.median(values):{spec}} / {percentile(values, 0.99):{spec}} ms"


async def _admin(sql: str) -> None:
    import asyncpg  # type: ignore[import-untyped]  # the driver; only this run needs it

    connection = await asyncpg.connect(POSTGRES_ADMIN, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def run_load(root: Path, *, databases: Sequence[str], quick: bool) -> LoadReport:
    """Every scenario on each of ``databases`` (``sqlite``, ``postgres``)."""
    rows: list[LoadRow] = []
    api: list[ApiFigures] = []
    for database in databases:
        if database == "sqlite":
            found = run_database(root / "sqlite", None, quick=quick)
        else:
            name = f"slidebatch_bench_{secrets.token_hex(4)}"
            asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
            try:
                url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
                found = run_database(root / "postgres", url, quick=quick)
            finally:
                asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        rows += found[0]
        api.append(found[1])
    return LoadReport(tuple(rows), tuple(api))
