"""The bench's world: the fake upstream in this process and a real ``slidebatch serve``.

The server is a subprocess configured only through its environment, exactly as a user
would run it, pointed at the fake upstream as if it were OpenRouter. Every duration the
server is told is scaled by ``time_scale``, like the fake's window and latencies.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import slidebatch
from slidebatch.testing.fake_behaviour import FakeUpstreamConfig, Fault
from slidebatch.testing.fake_upstream import FakeUpstreamServer
from slidebatch.testing.serve_process import start_serve, stop_serve

BENCH_API_KEY = "sk-bench-dummy-key-not-secret"
RATE = 20  # accepted requests per window, like OpenRouter's free models
WINDOW = 60.0  # unscaled seconds
LATENCY_MEDIAN = 9.0  # the seed's measurements: about 9 s a slide at its best
LATENCY_P95 = 20.0  # and a heavy tail
IN_FLIGHT_CAP = 32  # the server's UPSTREAM_MAX_IN_FLIGHT default
OVERLOAD_RETRY_AFTER = 5.0  # the Retry-After of the fake's 503s (unscaled seconds)
_SRC = Path(slidebatch.__file__).resolve().parents[1]


@dataclass(frozen=True, slots=True)
class EnvironmentConfig:
    """What one fake upstream plus one server look like. Durations are unscaled seconds."""

    root: Path
    time_scale: float
    seed: int = 1
    fault_rates: Mapping[Fault, float] = field(default_factory=dict)
    llm_timeout: float = 120.0
    min_wall_timeout: float = 1.0  # never tighter than this in wall seconds (slow machines)
    max_attempts: int = 4
    configured_limit: bool = True  # False: no UPSTREAM_RPM; the gate learns from headers
    configured_window: bool = True  # False: no UPSTREAM_RATE_WINDOW_SECONDS either
    # The upstream of issue 13: refused requests count against its window and the
    # X-RateLimit-* figures come only with 429s (no Retry-After), as some providers do.
    harsh_upstream: bool = False
    # The upstream's limits and latency (unscaled); the defaults are the seed's experiment.
    rate: int = RATE
    window: float = WINDOW
    latency_median: float = LATENCY_MEDIAN
    latency_p95: float = LATENCY_P95
    database_url: str | None = None  # None: SQLite in the bench's data folder
    max_concurrent: int | None = None  # BATCH_MAX_CONCURRENT (None: the default)

    def scaled(self, seconds: float) -> float:
        return seconds * self.time_scale

    @property
    def wall_timeout(self) -> float:
        return max(self.scaled(self.llm_timeout), self.min_wall_timeout)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class BenchEnvironment:
    """Start with ``with BenchEnvironment(config) as env:``; both stop on exit."""

    def __init__(self, config: EnvironmentConfig) -> None:
        self.config = config
        self.fake = FakeUpstreamServer(
            FakeUpstreamConfig(
                rpm=config.rate,
                window_seconds=config.window,
                latency_median=config.latency_median,
                latency_p95=config.latency_p95,
                time_scale=config.time_scale,
                seed=config.seed,
                expected_api_key=BENCH_API_KEY,
                fault_rates=dict(config.fault_rates),
                overload_retry_after=OVERLOAD_RETRY_AFTER,
                # OpenRouter sends X-RateLimit-Reset as an epoch time in ms.
                reset_style="epoch_ms",
                count_rejected=config.harsh_upstream,
                limit_headers="on_429" if config.harsh_upstream else "always",
                retry_after=not config.harsh_upstream,
            )
        )
        self.port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_dir(self) -> Path:
        return self.config.root / "logs"

    def server_env(self) -> dict[str, str]:
        """The server's whole configuration, as environment variables."""
        return server_env(self.config, self.fake.openrouter_base)

    def __enter__(self) -> BenchEnvironment:
        self.config.root.mkdir(parents=True, exist_ok=True)
        self.fake.start()
        try:
            self._start_server()
        except BaseException:
            self.fake.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop_server()
        self.fake.stop()

    def _start_server(self, timeout: float = 60.0) -> None:
        # cwd is the bench's folder so that no stray .env changes the configuration.
        self._process = start_serve(
            port=self.port, env=self.server_env(), cwd=self.config.root, timeout=timeout
        )

    def _stop_server(self) -> None:
        if self._process is not None:
            stop_serve(self._process)

    def server_cpu_seconds(self) -> float | None:
        """CPU seconds (user + system) the server process has used so far; None where
        ``/proc`` cannot tell (not Linux) or the server is not running."""
        if self._process is None:
            return None
        return process_cpu_seconds(self._process.pid)

    def drain(self) -> None:
        """Wait one window (plus a little) so the next run starts with a fresh window."""
        time.sleep(self.config.scaled(self.config.window) * 1.05 + 0.05)
        self.fake.reset_stats()


def process_cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user + system) process ``pid`` has used, from ``/proc/<pid>/stat``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    # The command name (field 2) may hold spaces; utime and stime are fields 14 and 15.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_env(config: EnvironmentConfig, openrouter_base: str) -> dict[str, str]:
    """The bench server's whole configuration, as environment variables."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env |= {
        "PYTHONPATH": os.pathsep.join(p for p in (str(_SRC), env.get("PYTHONPATH")) if p),
        "IMAGE_PROVIDER": "openrouter",
        "LLM_API_BASE": openrouter_base,
        "LLM_API_KEY": BENCH_API_KEY,
        "UPSTREAM_MAX_IN_FLIGHT": str(IN_FLIGHT_CAP),
        "LLM_TIMEOUT_SECONDS": f"{config.wall_timeout:g}",
        "RETRY_BASE_SECONDS": f"{config.scaled(2.0):g}",
        "RETRY_MAX_SECONDS": f"{config.scaled(60.0):g}",
        "SLIDE_MAX_ATTEMPTS": str(config.max_attempts),
        # SPEC 1: a request without max_workers lets the scheduler decide.
        "BATCH_DEFAULT_WORKERS": "auto",
        "DATA_DIR": str(config.root / "data"),
        "LOG_DIR": str(config.root / "logs"),
    }
    env.pop("UPSTREAM_RPM", None)
    env.pop("UPSTREAM_RATE_WINDOW_SECONDS", None)
    if config.configured_limit:
        env["UPSTREAM_RPM"] = str(config.rate)
    if config.configured_window:
        env["UPSTREAM_RATE_WINDOW_SECONDS"] = f"{config.scaled(config.window):g}"
    env.pop("DATABASE_URL", None)
    if config.database_url is not None:
        env["DATABASE_URL"] = config.database_url
    if config.max_concurrent is not None:
        env["BATCH_MAX_CONCURRENT"] = str(config.max_concurrent)
    return env
