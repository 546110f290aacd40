from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from slidebatch.fleet.metrics import FleetView
from slidebatch.observability.metrics import Metrics

RULES_DIR = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is required in CI (Debian package: prometheus)")
        pytest.skip("promtool is not installed")
    return found


def test_the_rules_are_valid() -> None:
    """promtool check rules accepts deploy/prometheus/alerts.yml."""
    done = subprocess.run(
        [_promtool(), "check", "rules", "alerts.yml"],
        cwd=RULES_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_rule_unit_tests_pass() -> None:
    """promtool test rules runs alerts_test.yml: each alert fires when it should and only then."""
    done = subprocess.run(
        [_promtool(), "test", "rules", "alerts_test.yml"],
        cwd=RULES_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_rules_use_only_metrics_we_export() -> None:
    """Every slidebatch_* name in the rules is one Metrics exposes, with the fleet's view
    of a fleet process (no typo ever alerts)."""
    metrics = Metrics()
    FleetView(metrics)
    body, _ = metrics.render()
    exported = body.decode()
    rules = (RULES_DIR / "alerts.yml").read_text(encoding="utf-8")
    names = set(re.findall(r"\bslidebatch_[a-z_]+", rules))
    assert names
    for name in names:
        assert f"# TYPE {name.removesuffix('_total')}" in exported, name
