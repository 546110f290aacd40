"""A real fleet for tests: the fake upstream, ``serve --no-worker`` and ``worker`` processes.

Every process is started as a user would start it, configured only through its environment,
on one fresh PostgreSQL database; they share one data folder (images) and one log folder.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from slidebatch.testing.fake_behaviour import FakeUpstreamConfig
from slidebatch.testing.fake_upstream import FakeUpstreamServer
from slidebatch.testing.serve_process import free_port, start_serve, stop_serve

SRC = Path(__file__).resolve().parents[2] / "src"
API_KEY = "sk-fleet-test-dummy"
FINAL = {"completed", "completed_with_errors", "failed", "cancelled"}


def process_env(root: Path, database_url: str) -> dict[str, str]:
    """The environment of a ``slidebatch`` process on ``database_url`` with its data and log
    folders under ``root``: no API key of this machine's, this checkout's sources first."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    return env | {
        "PYTHONPATH": os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]),
        "DATABASE_URL": database_url,
        "DATA_DIR": str(root / "data"),
        "LOG_DIR": str(root / "logs"),
    }


def asyncpg_dsn(url: str) -> str:
    """``url`` (SQLAlchemy's asyncpg form) as asyncpg itself takes it."""
    return url.replace("postgresql+asyncpg://", "postgresql://")


def wait_final(client: httpx.Client, batch_id: str, within: float) -> dict[str, Any]:
    """Poll the API until the batch is final, at most ``within`` seconds (a real subprocess:
    no clock to inject)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        status = client.get(f"/api/slide/batch/{batch_id}").json()
        if status["status"] in FINAL:
            return dict(status)
        time.sleep(0.1)
    raise AssertionError(f"batch {batch_id} not final within {within} s")


@dataclass
class Fleet:
    """The processes of one fleet; ``workers`` maps a worker's pid to its process."""

    root: Path
    database_url: str
    fake: FakeUpstreamServer
    lease: float
    api_port: int = field(default_factory=free_port)
    api: subprocess.Popen[bytes] | None = None
    workers: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def env(self) -> dict[str, str]:
        env = process_env(self.root, self.database_url)
        env.pop("UPSTREAM_RPM", None)
        return env | {
            "IMAGE_PROVIDER": "openrouter",
            "LLM_API_BASE": self.fake.openrouter_base,
            "LLM_API_KEY": API_KEY,
            "FLEET_LEASE_SECONDS": f"{self.lease:g}",
            "FLEET_POLL_SECONDS": "0.2",
            "RETRY_BASE_SECONDS": "0.1",
            "RETRY_MAX_SECONDS": "0.5",
            "LLM_TIMEOUT_SECONDS": "20",
        }

    def start_api(self) -> None:
        self.api = start_serve(
            port=self.api_port, env=self.env(), cwd=self.root, args=("serve", "--no-worker")
        )

    def start_worker(self) -> int:
        process = start_serve(port=free_port(), env=self.env(), cwd=self.root, args=("worker",))
        self.workers[process.pid] = process
        return process.pid

    def kill_worker(self, pid: int) -> None:
        """SIGKILL: no shutdown hook runs, its leases stay until they expire."""
        process = self.workers.pop(pid)
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def stop(self) -> None:
        for process in [*self.workers.values(), *([self.api] if self.api else [])]:
            stop_serve(process)

    def pipeline_events(self, name: str) -> list[dict[str, Any]]:
        """Every ``name`` event of the shared pipeline log, in order."""
        events = []
        for path in sorted((self.root / "logs").glob("pipeline_*.log")):
            for line in path.read_text(encoding="utf-8").splitlines():
                event = json.loads(line)
                if event["event"] == name:
                    events.append(event)
        return events

    def query(self, sql: str, *args: object) -> list[Any]:
        """Rows of ``sql`` on the fleet's database (asyncpg, its own short connection)."""

        async def run() -> list[Any]:
            connection = await asyncpg.connect(asyncpg_dsn(self.database_url), timeout=5)
            try:
                return list(await connection.fetch(sql, *args))
            finally:
                await connection.close()

        return asyncio.run(run())

    def wait_for_requests(self, pid: int) -> None:
        """Wait until worker ``pid`` has requests in flight (its gate permits: each one is a
        request sent, until its outcome is reported)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            rows = self.query(
                "SELECT count(*) AS n FROM gate_permits WHERE holder LIKE $1", f"%:{pid}"
            )
            if rows[0]["n"]:
                return
            time.sleep(0.05)  # a real subprocess: no clock to inject
        raise AssertionError(f"worker {pid} never sent a request")


@contextmanager
def running_fleet(
    root: Path, database_url: str, *, workers: int, latency: float, lease: float = 4.0
) -> Iterator[Fleet]:
    """An API process and ``workers`` workers, against an unlimited fake upstream."""
    config = FakeUpstreamConfig(
        rpm=None,
        latency_median=latency,
        latency_p95=latency * 1.2,
        latency_max=latency * 1.5,
        expected_api_key=API_KEY,
    )
    with FakeUpstreamServer(config) as fake:
        fleet = Fleet(root, database_url, fake, lease)
        try:
            fleet.start_api()
            for _ in range(workers):
                fleet.start_worker()
            yield fleet
        finally:
            fleet.stop()


def deck(slides: int, tag: str, *, max_workers: int | None = None) -> dict[str, Any]:
    """A request body of ``slides`` content slides."""
    body: dict[str, Any] = {
        "slides": [
            {
                "id": f"{tag}-{n}",
                "page_num": n,
                "type": "content",
                "title": f"{tag} slide {n}",
                "content_text": f"point {n}",
                "visual_desc": "a chart",
            }
            for n in range(1, slides + 1)
        ],
        "style_prompt": "flat",
    }
    if max_workers is not None:
        body["max_workers"] = max_workers
    return body
