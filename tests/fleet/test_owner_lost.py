"""A worker whose PostgreSQL owner lock is lost (its session terminated) stops and says so.

The lock lives as long as one dedicated connection (``storage/pg_owner.py``); when that
session ends under the process, another engine could take the database and pay slides
twice beside it. The worker must not go on claiming as if nothing happened.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SRC = Path(__file__).resolve().parents[2] / "src"


def _env(root: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    return env | {
        "PYTHONPATH": os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]),
        "DATABASE_URL": url,
        "DATA_DIR": str(root / "data"),
        "LOG_DIR": str(root / "logs"),
        "IMAGE_PROVIDER": "local",
    }


async def _owner_sessions(dsn: str, pid: int) -> list[int]:
    connection = await asyncpg.connect(dsn, timeout=5)
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name LIKE $1",
            f"slidebatch fleet pid {pid} (%",
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


def test_a_worker_whose_owner_session_is_terminated_exits_nonzero(
    tmp_path: Path, postgres_url: str
) -> None:
    """pg_terminate_backend of the worker's owner session: it logs database_owner_lost,
    stops claiming and exits 1 with one line saying why (it used to run on, unowned)."""
    dsn = postgres_url.replace("postgresql+asyncpg://", "postgresql://")
    out = tmp_path / "worker.out"
    with open(out, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "slidebatch", "worker"],
            env=_env(tmp_path, postgres_url),
            cwd=tmp_path,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        sessions: list[int] = []
        while not sessions and time.monotonic() < deadline:
            assert process.poll() is None, out.read_text()
            sessions = asyncio.run(_owner_sessions(dsn, process.pid))
            time.sleep(0.05)  # a real subprocess: no clock to inject
        assert len(sessions) == 1, out.read_text()
        asyncio.run(_terminate(dsn, sessions[0]))
        code = process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    text = out.read_text()
    assert code == 1, text
    assert "owner lock was lost" in text
    logs = "".join(p.read_text() for p in (tmp_path / "logs").glob("pipeline_*.log"))
    assert '"database_owner_lost"' in logs
