"""One process owns a SQLite data directory; a second ``serve`` or ``generate`` refuses."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from tests.api.server_process import ServerProcess
from tests.cli.cli_process import CliEnv

from slidebatch.storage.ownership import DataDirInUse, lock_path, own_data_dir

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_a_second_holder_in_the_same_process_is_refused(tmp_path: Path) -> None:
    """A held data directory refuses another holder at once, naming pid and command."""
    url = f"sqlite:///{tmp_path / 'data' / 'slidebatch.db'}"
    with own_data_dir(url, command="slidebatch serve --port 1"):
        with pytest.raises(DataDirInUse) as info, own_data_dir(url):
            pass
        assert info.value.owner.pid == os.getpid()
        assert "slidebatch serve --port 1" in str(info.value)
    with own_data_dir(url) as path:  # released when the block ended
        assert path == tmp_path / "data" / "slidebatch.db.lock"


def test_postgres_has_no_owner() -> None:
    """A PostgreSQL database is shared by design: nothing to lock."""
    assert lock_path("postgresql://u@127.0.0.1/db") is None
    with own_data_dir("postgresql://u@127.0.0.1/db") as path:
        assert path is None


@pytest.mark.slow
def test_second_serve_and_generate_refuse_while_serve_runs(tmp_path: Path) -> None:
    """With serve running, another serve and a generate on its data dir exit 2 naming it;
    once it is killed with -9, a new serve starts on the same directory."""
    first = ServerProcess(tmp_path).start()
    cli = CliEnv(tmp_path)
    try:
        assert first.process is not None
        pid = first.process.pid
        second = cli.run("serve", "--port", "1")
        assert second.returncode == 2, second.stdout + second.stderr
        message = " ".join(second.stderr.split())
        assert f"pid {pid}" in message
        assert "slidebatch serve" in message
        assert "DATA_DIR" in message
        generate = cli.run("generate", str(EXAMPLES / "deck-en.md"), "--out", "out")
        assert generate.returncode == 2
        assert f"pid {pid}" in " ".join(generate.stderr.split())
        assert not list((tmp_path / "out").glob("*.png"))
    finally:
        first.kill()
    again = ServerProcess(tmp_path, port=first.port).start()
    again.stop()


@pytest.mark.slow
def test_serve_refuses_while_generate_runs(tmp_path: Path) -> None:
    """A generate in progress owns the directory: serve refuses, naming the generate."""
    cli = CliEnv(tmp_path)
    deck = tmp_path / "deck.json"
    deck.write_text('[{"title": "a"}, {"title": "b"}]', encoding="utf-8")
    slow = {"LOCAL_RENDER_DELAY_SECONDS": "30"}
    process = cli.start("generate", "deck.json", "--out", "out", extra_env=slow)
    try:
        lock = tmp_path / "data" / "slidebatch.db.lock"
        _wait_for_owner(lock, process.pid)
        refused = cli.run("serve", "--port", "1")
        assert refused.returncode == 2
        message = " ".join(refused.stderr.split())
        assert f"pid {process.pid}" in message
        assert "generate deck.json" in message
    finally:
        process.kill()
        process.wait(10)


def _wait_for_owner(lock: Path, pid: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if lock.is_file() and f'"pid": {pid}' in lock.read_text("utf-8"):
            return
        # Polling a real subprocess: there is no clock to inject, only a short pause.
        time.sleep(0.05)
    raise AssertionError("the generate never took the lock")
