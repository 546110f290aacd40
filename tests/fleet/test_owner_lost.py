"""A process whose PostgreSQL owner lock is lost (its session terminated) stops and exits 4.

The lock lives as long as one dedicated connection (``storage/pg_owner.py``); when that
session ends under the process, another engine could take the database and pay slides
twice beside it. Every kind of process must stop (as SIGTERM stops it) and exit
``EXIT_OWNER_LOST``, so that systemd's ``Restart=`` starts it again with a lock.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import asyncpg
import httpx
import pytest
from fleet_processes import asyncpg_dsn, deck, process_env, running_fleet, wait_final

from slidebatch.cli.output import EXIT_OWNER_LOST
from slidebatch.storage.pg_owner import OWNER_LOCK_KEY
from slidebatch.testing.serve_process import free_port, start_serve

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

WAIT = 60.0  # bound on a process's start and on its exit (polled, never slept through)


def _env(root: Path, url: str) -> dict[str, str]:
    return process_env(root, url) | {"IMAGE_PROVIDER": "local"}


async def _owner_sessions(dsn: str, pid: int) -> list[int]:
    """The sessions of process ``pid`` that hold the owner lock (named by application_name
    from the connect on, but holding the lock only once it was taken: a session killed in
    between fails the process's start, which is not what these tests are about)."""
    connection = await asyncpg.connect(dsn, timeout=5)
    try:
        rows = await connection.fetch(
            "SELECT a.pid FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid"
            " WHERE a.application_name LIKE $1 AND l.locktype = 'advisory' AND l.granted"
            " AND l.classid = $2::bigint::oid AND l.objid = $3::bigint::oid",
            f"slidebatch % pid {pid} (%",  # a fleet process or an engine
            OWNER_LOCK_KEY >> 32,
            OWNER_LOCK_KEY & 0xFFFFFFFF,
        )
        return [int(r["pid"]) for r in rows]
    finally:
        await connection.close()


async def _terminate(dsn: str, backend: int) -> None:
    connection = await asyncpg.connect(dsn, timeout=5)
    try:
        await connection.execute("SELECT pg_terminate_backend($1)", backend)
    finally:
        await connection.close()


def _terminate_owner(dsn: str, process: subprocess.Popen[bytes], out: Path) -> None:
    """pg_terminate_backend of the process's owner session, once it holds one."""
    deadline = time.monotonic() + WAIT
    sessions: list[int] = []
    while not sessions and time.monotonic() < deadline:
        assert process.poll() is None, out.read_text()
        sessions = asyncio.run(_owner_sessions(dsn, process.pid))
        if not sessions:
            time.sleep(0.05)  # a real subprocess: no clock to inject
    assert len(sessions) == 1, out.read_text()
    asyncio.run(_terminate(dsn, sessions[0]))


def _start(
    args: tuple[str, ...], http: bool, root: Path, url: str, out: Path
) -> subprocess.Popen[bytes]:
    """The process as a user starts it; one that serves HTTP is returned once healthy."""
    env = _env(root, url)
    with open(out, "wb") as output:
        if not http:
            command = [sys.executable, "-m", "slidebatch", *args]
            return subprocess.Popen(
                command, env=env, cwd=root, stdout=output, stderr=subprocess.STDOUT
            )
        # start_serve adds --host, --port and --log-level
        return start_serve(port=free_port(), env=env, cwd=root, output=output, args=args)


@pytest.mark.parametrize(
    ("args", "http"),
    [
        (("worker",), False),
        (("worker",), True),  # worker --port: what deploy/'s worker unit runs
        (("serve", "--fleet"), True),
        (("serve", "--no-worker"), True),
        (("serve",), True),  # a plain engine on PostgreSQL: its lock is the exclusive one
    ],
    ids=["worker", "worker-port", "serve-fleet", "serve-no-worker", "serve-engine"],
)
def test_a_process_whose_owner_session_is_terminated_exits_with_owner_lost(
    tmp_path: Path, postgres_url: str, args: tuple[str, ...], http: bool
) -> None:
    """pg_terminate_backend of the owner session: the process logs database_owner_lost,
    shuts down and exits EXIT_OWNER_LOST (4) with one line saying why; before, every
    process but the plain worker ran on, unowned, with nothing to restart it."""
    out = tmp_path / "process.out"
    process = _start(args, http, tmp_path, postgres_url, out)
    try:
        _terminate_owner(asyncpg_dsn(postgres_url), process, out)
        code = process.wait(WAIT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    text = out.read_text()
    assert code == EXIT_OWNER_LOST, text
    assert "owner lock was lost" in text
    logs = "".join(p.read_text() for p in (tmp_path / "logs").glob("pipeline_*.log"))
    assert '"database_owner_lost"' in logs


def test_a_worker_that_lost_its_owner_lock_lets_its_requests_in_flight_finish(
    tmp_path: Path, postgres_url: str
) -> None:
    """A lost owner lock stops a worker (with probes) as SIGTERM does: its requests in
    flight finish and are stored by it before it exits 4, the other worker does the rest,
    and the upstream is asked exactly once per slide."""
    with (
        running_fleet(tmp_path, postgres_url, workers=2, latency=1.5) as fleet,
        httpx.Client(base_url=fleet.base_url, timeout=30) as client,
    ):
        victim = next(iter(fleet.workers))
        created = client.post(
            "/api/slide/batch/generate", params={"wait": "false"}, json=deck(12, "t", max_workers=6)
        )
        batch_id = created.json()["batch_id"]
        fleet.wait_for_requests(victim)
        process = fleet.workers.pop(victim)
        sessions = asyncio.run(_owner_sessions(asyncpg_dsn(postgres_url), victim))
        assert len(sessions) == 1
        asyncio.run(_terminate(asyncpg_dsn(postgres_url), sessions[0]))
        assert process.wait(WAIT) == EXIT_OWNER_LOST
        final = wait_final(client, batch_id, WAIT)
        requests = fleet.fake.stats()["totals"]["requests"]
        completed = Counter(
            e["details"]["slide_key"] for e in fleet.pipeline_events("slide_completed")
        )
        drained = fleet.pipeline_events("fleet_worker_draining")
    assert final["status"] == "completed"
    assert final["successful"] == 12
    assert requests == 12
    assert set(completed.values()) == {1}
    assert len(drained) == 1  # one drain: the shutdown waited for the owner watch's
    assert drained[0]["details"]["in_flight"] >= 1
