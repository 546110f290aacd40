"""Run ``slidebatch serve`` as a real subprocess on a free loopback port, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from slidebatch.testing.serve_process import free_port, start_serve, stop_serve

SRC = Path(__file__).resolve().parents[2] / "src"


@dataclass
class ServerProcess:
    """One ``slidebatch serve`` with its own data and log folders under ``root``."""

    root: Path
    env_overrides: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env |= {
            "PYTHONPATH": os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]),
            "DATA_DIR": str(self.root / "data"),
            "LOG_DIR": str(self.log_dir),
            "IMAGE_PROVIDER": "local",
            "LOCAL_RENDER_LONG_SIDE": "320",
        }
        return env | self.env_overrides

    def start(self, timeout: float = 90.0) -> ServerProcess:
        self.process = start_serve(port=self.port, env=self.env(), cwd=self.root, timeout=timeout)
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, exactly like a crash."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None:
            stop_serve(self.process)
