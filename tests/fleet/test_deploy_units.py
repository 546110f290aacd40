"""deploy/fleet's systemd units restart a process that exits EXIT_OWNER_LOST, and a unit
that runs a worker leaves its SIGTERM drain the time it needs."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from slidebatch.config import Settings

UNITS = sorted((Path(__file__).resolve().parents[2] / "deploy" / "fleet").glob("*.service"))


def _service(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=False)  # keys in lower case
    parser.read(path)
    return parser["Service"]


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_a_unit_restarts_a_process_that_lost_its_owner_lock(unit: Path) -> None:
    """Restart= covers a nonzero exit (4: the owner lock was lost), and nothing names 4 a
    success or a reason not to restart."""
    service = _service(unit)
    assert service["restart"] in {"on-failure", "always"}
    for key in ("successexitstatus", "restartpreventexitstatus"):
        assert "4" not in service.get(key, "").split()


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_a_unit_that_runs_a_worker_waits_for_its_requests_in_flight(unit: Path) -> None:
    """A worker inside (`worker`, `serve --fleet`): TimeoutStopSec is the default
    LLM_TIMEOUT_SECONDS plus 30 s, the room its SIGTERM drain needs."""
    service = _service(unit)
    command = service["execstart"].split()
    if "worker" not in command and "--fleet" not in command:
        pytest.skip(f"{unit.name} runs no worker")
    default = Settings.model_fields["llm_timeout_seconds"].default
    assert float(service["timeoutstopsec"]) == default + 30
