from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from slidebatch.cli import app
from slidebatch.cli.audit_cmd import parse_since
from slidebatch.errors import InputError

CST = timezone(timedelta(hours=8))


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A CLI runner on a fresh data and log directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return CliRunner()


def test_create_prints_the_key_once_and_stores_only_its_hash(
    runner: CliRunner, tmp_path: Path
) -> None:
    """keys create prints the secret alone on stdout; no file on disk ever contains it."""
    done = runner.invoke(app, ["keys", "create", "--name", "ci", "--max-concurrent", "2"])
    assert done.exit_code == 0, done.output
    secret = done.stdout.strip()
    assert secret.startswith("sb_")
    listed = runner.invoke(app, ["keys", "list", "--json"])
    [key] = json.loads(listed.stdout)
    assert (key["name"], key["role"], key["max_concurrent_batches"]) == ("ci", "user", 2)
    assert secret not in listed.stdout
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_revoke_and_the_audit_trail(runner: CliRunner, tmp_path: Path) -> None:
    """Revoking shows in keys list; every key operation appears in `slidebatch audit`."""
    runner.invoke(app, ["keys", "create", "--name", "ci", "--role", "admin"])
    key_id = json.loads(runner.invoke(app, ["keys", "list", "--json"]).stdout)[0]["id"]
    assert runner.invoke(app, ["keys", "revoke", key_id]).exit_code == 0
    assert json.loads(runner.invoke(app, ["keys", "list", "--json"]).stdout)[0]["revoked_at"]
    unknown = runner.invoke(app, ["keys", "revoke", "nope"])
    assert unknown.exit_code == 1
    done = runner.invoke(app, ["audit", "--since", "1h", "--json"])
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(e["action"], e["outcome"]) for e in events] == [
        ("key.revoke", "not_found"),
        ("key.list", "ok"),
        ("key.revoke", "ok"),
        ("key.list", "ok"),
        ("key.create", "ok"),
    ]
    only = runner.invoke(app, ["audit", "--action", "key.create", "--json"])
    assert len(only.stdout.splitlines()) == 1
    assert list((tmp_path / "logs").glob("audit_*.log"))


def test_a_bad_since_is_a_usage_error(runner: CliRunner) -> None:
    """--since that is neither a duration nor a date exits 2 with a clear message."""
    done = runner.invoke(app, ["audit", "--since", "yesterday-ish"])
    assert done.exit_code == 2
    assert "neither a duration" in done.output


def test_parse_since() -> None:
    """Durations count back from now; a naive date is local midnight; an aware one is kept."""
    now = datetime(2026, 11, 3, 12, 0, tzinfo=CST)
    assert parse_since("24h", now) == now - timedelta(days=1)
    assert parse_since("30m", now) == now - timedelta(minutes=30)
    assert parse_since("2026-11-01T00:00:00+08:00", now) == datetime(2026, 11, 1, tzinfo=CST)
    assert parse_since("2026-11-01", now).tzinfo is not None
    with pytest.raises(InputError):
        parse_since("soon", now)


def test_audit_without_a_database_says_where_it_looked_and_makes_none(
    runner: CliRunner, tmp_path: Path
) -> None:
    """In a folder with no server database: exit 2 naming the path; no data/ or logs/ left."""
    done = runner.invoke(app, ["audit"])
    assert done.exit_code == 2, done.output
    said = "".join(done.output.split())  # the console may wrap a long path
    assert f"nodatabaseat{tmp_path / 'data' / 'slidebatch.db'}" in said
    assert not (tmp_path / "data").exists()
    assert not (tmp_path / "logs").exists()


def test_audit_with_nothing_to_show_says_so(runner: CliRunner) -> None:
    """An empty answer says nothing matched (it printed nothing at all)."""
    assert runner.invoke(app, ["keys", "create", "--name", "a"]).exit_code == 0
    done = runner.invoke(app, ["audit", "--action", "batch.delete"])
    assert done.exit_code == 0, done.output
    assert "no audited operations match" in done.output
