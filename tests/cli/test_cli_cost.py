"""`slidebatch generate` and money: the estimate first, the spend in the summary and the
manifest, and --max-cost refusing or stopping a run (against the fake OpenRouter)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from slidebatch.cli import app
from slidebatch.testing.fake_behaviour import FakeUpstreamConfig
from slidebatch.testing.fake_upstream import FakeUpstreamServer

PRICE = 0.134  # what the fake reports as usage.cost per image

pytestmark = pytest.mark.slow


@pytest.fixture
def upstream() -> Iterator[FakeUpstreamServer]:
    config = FakeUpstreamConfig(rpm=10_000, latency_median=0.05, latency_p95=0.06)
    with FakeUpstreamServer(config) as server:
        yield server


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, upstream: FakeUpstreamServer) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    for name in ("GEMINI_API_KEY", "OPENAI_API_KEY", "DATABASE_URL", "IMAGE_OUTPUT_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IMAGE_PROVIDER", "openrouter")
    monkeypatch.setenv("LLM_API_KEY", "sk-test-cost-0000")
    monkeypatch.setenv("LLM_API_BASE", upstream.openrouter_base)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LOG_DIR", str(tmp_path / "logs"))
    return CliRunner()


def _deck(tmp_path: Path, slides: int) -> str:
    items = [{"title": f"Slide {i}"} for i in range(1, slides + 1)]
    (tmp_path / "d.json").write_text(json.dumps({"slides": items}), encoding="utf-8")
    return str(tmp_path / "d.json")


def _paid(upstream: FakeUpstreamServer) -> int:
    return int(upstream.stats()["totals"]["accepted"])


def test_estimate_then_spend_in_summary_and_manifest(
    run: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run says its estimate first; the summary and manifest carry usage.cost summed."""
    monkeypatch.setenv("UPSTREAM_PRICE_PER_IMAGE", "0.2")
    result = run.invoke(app, ["generate", _deck(tmp_path, 3), "--out", "o"])
    assert result.exit_code == 0, result.output
    assert "cost estimate: $0.6 (3 x $0.2, configured)" in result.output
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text("utf-8"))
    assert manifest["cost"] == pytest.approx(3 * PRICE)
    assert [r["cost"] for r in manifest["results"]] == [PRICE] * 3
    assert f"${3 * PRICE:.4g}" in result.output
    again = run.invoke(app, ["generate", _deck(tmp_path, 3), "--out", "o2"])
    assert "(3 x $0.134, measured)" in again.output


def test_max_cost_below_the_estimate_pays_nothing(
    run: CliRunner, tmp_path: Path, upstream: FakeUpstreamServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--max-cost under the estimate: exit 2 naming --max-cost; the upstream got no request."""
    monkeypatch.setenv("UPSTREAM_PRICE_PER_IMAGE", "0.2")
    result = run.invoke(app, ["generate", _deck(tmp_path, 3), "--max-cost", "0.3"])
    assert result.exit_code == 2, result.output
    assert "above --max-cost $0.3; raise --max-cost" in " ".join(result.output.split())
    assert _paid(upstream) == 0


def test_max_cost_stops_a_run_before_passing_it(
    run: CliRunner, tmp_path: Path, upstream: FakeUpstreamServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Priced at 0.05 but billed 0.134: a 0.5 cap stops the run at 3 images (0.402), exit 1."""
    monkeypatch.setenv("UPSTREAM_PRICE_PER_IMAGE", "0.05")
    deck = _deck(tmp_path, 8)
    result = run.invoke(
        app, ["generate", deck, "--max-cost", "0.5", "--workers", "1", "--out", "o"]
    )
    assert result.exit_code == 1, result.output
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text("utf-8"))
    assert manifest["cost"] <= 0.5
    assert manifest["successful"] == 3
    assert _paid(upstream) == 3
    # The same command again without --max-cost continues the batch under its stored cap:
    # the cancelled slides are retried, and cancelled again before one is paid.
    again = run.invoke(app, ["generate", deck, "--workers", "1", "--out", "o"])
    assert again.exit_code == 1, again.output
    assert _paid(upstream) == 3
    # A higher cap given on a re-run replaces the stored one: the other five fit in 1.1.
    raised = run.invoke(
        app, ["generate", deck, "--max-cost", "1.1", "--workers", "1", "--out", "o"]
    )
    assert raised.exit_code == 0, raised.output
    assert _paid(upstream) == 8


def test_max_cost_with_no_price_known_pays_for_one_image_first(
    run: CliRunner, tmp_path: Path, upstream: FakeUpstreamServer
) -> None:
    """No price configured or measured, 12 slides under 0.01: the first image alone (0.134),
    then the rest cancelled (it used to draw all 12: $1.608, exit 0)."""
    result = run.invoke(app, ["generate", _deck(tmp_path, 12), "--max-cost", "0.01", "--out", "o"])
    assert result.exit_code == 1, result.output
    assert "price unknown: the first image's cost will set it" in " ".join(result.output.split())
    assert _paid(upstream) == 1
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text("utf-8"))
    assert manifest["cost"] == pytest.approx(PRICE)


def test_max_cost_prices_the_rest_at_what_the_first_image_cost(
    run: CliRunner, tmp_path: Path, upstream: FakeUpstreamServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Configured 0.05, billed 0.134, 12 slides under 0.7 on auto workers: 5 paid (0.67),
    never past the cap (all 12 used to be sent at once: $1.608)."""
    monkeypatch.setenv("UPSTREAM_PRICE_PER_IMAGE", "0.05")
    result = run.invoke(app, ["generate", _deck(tmp_path, 12), "--max-cost", "0.7", "--out", "o"])
    assert result.exit_code == 1, result.output
    assert _paid(upstream) == 5
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text("utf-8"))
    assert manifest["cost"] == pytest.approx(5 * PRICE)
