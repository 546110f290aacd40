"""Run ``slidebatch serve`` as a real subprocess on loopback (end-to-end tests, benchmarks)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

import httpx


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_serve(
    *,
    port: int,
    env: Mapping[str, str],
    cwd: Path,
    timeout: float = 90.0,
    output: IO[bytes] | None = None,
    args: Sequence[str] = ("serve",),
) -> subprocess.Popen[bytes]:
    """Start ``slidebatch serve`` (or ``args``: ``worker``, ``serve --no-worker``) and return
    once ``/healthz`` answers.

    ``RuntimeError`` if it exits or is not healthy within ``timeout`` (then it is killed).
    ``cwd`` matters: it is where a stray ``.env`` would be read from.
    """
    command = [sys.executable, "-m", "slidebatch", *args, "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(
        command, env=dict(env), cwd=cwd, stdout=output, stderr=subprocess.STDOUT if output else None
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"slidebatch {args[0]} exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        # Polling a real subprocess: there is no clock to inject, only a short pause.
        time.sleep(0.05)
    process.kill()
    process.wait(10)
    raise RuntimeError(f"slidebatch {args[0]} did not become healthy")


def stop_serve(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (graceful shutdown), then SIGKILL if it does not end within 15 s."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
