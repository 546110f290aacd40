"""A database that cannot be opened is one line on stderr and exit 2, whatever the command."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.postgres  # the no-database case asks the real server

SRC = Path(__file__).resolve().parents[2] / "src"
MISSING_DB = f"postgresql://postgres@127.0.0.1:5432/slidebatch_absent_{secrets.token_hex(4)}"
NO_SERVER = "postgresql://postgres@127.0.0.1:1/slidebatch"  # nothing listens on port 1


def _run(tmp_path: Path, url: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    """``slidebatch *args`` with ``DATABASE_URL=url`` (``None``: unset)."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.pop("DATABASE_URL", None)
    env |= {} if url is None else {"DATABASE_URL": url}
    env |= {
        "PYTHONPATH": os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]),
        "DATA_DIR": str(tmp_path / "data"),
        "LOG_DIR": str(tmp_path / "logs"),
        "IMAGE_PROVIDER": "local",
    }
    return subprocess.run(
        [sys.executable, "-m", "slidebatch", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "args",
    [
        ("worker",),
        ("serve", "--no-worker", "--port", "1"),
        ("serve", "--fleet", "--port", "1"),
        ("serve", "--port", "1"),
        ("keys", "list"),
        ("generate", "deck.md", "--out", "out"),
    ],
)
@pytest.mark.parametrize("url", [MISSING_DB, NO_SERVER], ids=["no-database", "no-server"])
def test_an_unreachable_database_is_one_line_and_exit_2(
    tmp_path: Path, url: str, args: tuple[str, ...]
) -> None:
    """Bad DATABASE_URL: one error line naming the database, no traceback, exit code 2.

    Every command says the same words (``pg_owner.unreachable``): the URL without its
    password, the driver's reason, and what to check."""
    (tmp_path / "deck.md").write_text("# Deck\n\n## One\n\nA slide.\n")
    done = _run(tmp_path, url.replace("postgres@", "postgres:secret@"), *args)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error:")
    assert "Traceback" not in done.stderr
    assert ("does not exist" in lines[0]) if url == MISSING_DB else ("5432" not in lines[0])
    assert lines[0].startswith("error: cannot open the PostgreSQL database postgresql")
    assert "postgres:***@127.0.0.1" in lines[0]
    assert "secret" not in lines[0]
    assert lines[0].endswith(
        "check DATABASE_URL (the server runs, the database exists, the user may connect)"
    )


@pytest.mark.parametrize(
    "args",
    [
        ("worker",),
        ("worker", "--port", "1"),
        ("serve", "--no-worker", "--port", "1"),
        ("serve", "--fleet", "--port", "1"),
    ],
)
@pytest.mark.parametrize("url", ["", None], ids=["empty", "unset"])
def test_a_fleet_role_without_postgresql_is_one_line_and_exit_2(
    tmp_path: Path, url: str | None, args: tuple[str, ...]
) -> None:
    """DATABASE_URL unset or empty (SQLite): refused before uvicorn starts, not a traceback
    of a failed lifespan (exit 3)."""
    done = _run(tmp_path, url, *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: a fleet (slidebatch worker, serve --no-worker or --fleet) needs PostgreSQL:"
        " set DATABASE_URL=postgresql://..."
    ]
