"""Run ``slidebatch`` commands as real subprocesses against the fake upstream (CLI end-to-end)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
# A bound, not a wait: a healthy run ends in seconds, but on a shared 2-core machine under
# heavy load a Python start plus a deck took minutes; only a hung process should hit this.
LOADED_MACHINE_BOUND = 600.0


@dataclass(frozen=True)
class CliEnv:
    """A working folder with its own data and log folders, talking to one upstream."""

    root: Path
    upstream_base: str | None = None

    @property
    def database(self) -> Path:
        return self.root / "data" / "slidebatch.db"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env |= {
            "PYTHONPATH": os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]),
            "DATA_DIR": str(self.root / "data"),
            "LOG_DIR": str(self.root / "logs"),
            "LOCAL_RENDER_LONG_SIDE": "320",
            "IMAGE_PROVIDER": "local",
        }
        if self.upstream_base is not None:
            env |= {
                "IMAGE_PROVIDER": "openrouter",
                "LLM_API_KEY": "sk-test-resume",
                "LLM_API_BASE": self.upstream_base,
            }
        return env

    def start(self, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start a command in the background; its output goes to ``root/process.out``."""
        with open(self.root / "process.out", "ab") as output:
            return subprocess.Popen(
                [sys.executable, "-m", "slidebatch", *args],
                env=self.env() | (extra_env or {}),
                cwd=self.root,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        """What the background commands printed."""
        path = self.root / "process.out"
        return path.read_text("utf-8", errors="replace") if path.is_file() else ""

    def run(
        self, *args: str, timeout: float = LOADED_MACHINE_BOUND
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "slidebatch", *args],
            env=self.env(),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def slide_states(self) -> dict[str, int]:
        """Slide states over every batch in the database, counted."""
        with sqlite3.connect(self.database) as db:
            rows = db.execute("SELECT state, count(*) FROM slides GROUP BY state").fetchall()
        return {state: int(n) for state, n in rows}

    def batch_states(self) -> list[str]:
        with sqlite3.connect(self.database) as db:
            rows = db.execute("SELECT state FROM batches ORDER BY created_at").fetchall()
        return [state for (state,) in rows]

    def completed_events(self) -> int:
        return self.events("slide_completed")

    def events(self, name: str) -> int:
        """How many ``name`` events the pipeline logs hold (whole lines only)."""
        count = 0
        for path in (self.root / "logs").glob("pipeline_*.log"):
            # Read while the process appends: a last line without its newline is not yet
            # whole (its JSON would not parse), so it is left for the next poll.
            for line in path.read_text("utf-8").split("\n")[:-1]:
                count += json.loads(line)["event"] == name
        return count


def interrupt(process: subprocess.Popen[bytes], how: signal.Signals) -> None:
    """Send ``how`` and wait for the process to end (SIGKILL if it lingers)."""
    process.send_signal(how)
    try:
        # Ctrl-C shuts down in order (the writes in flight finish); under load that can be
        # slow, and a SIGKILL here would turn the ctrl-c case into another kill-9 case.
        process.wait(LOADED_MACHINE_BOUND)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def wait_until(predicate: object, timeout: float, process: subprocess.Popen[bytes]) -> None:
    """Poll ``predicate`` until true; fail if ``process`` ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        if process.poll() is not None:
            raise AssertionError(f"process ended early with {process.returncode}")
        # Polling a real subprocess: there is no clock to inject, only a short pause.
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")
