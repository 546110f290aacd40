"""How services configure the shared gate for each kind of provider."""

from __future__ import annotations

from pathlib import Path

from slidebatch.config import load_settings
from slidebatch.providers.local import LocalRenderer
from slidebatch.scheduler.clock import SystemClock
from slidebatch.scheduler.gate import Gate
from slidebatch.services import build_services
from slidebatch.testing.scripted_provider import ScriptedProvider


async def _gate_for(tmp_path: Path, provider: object) -> Gate:
    settings = load_settings(
        data_dir=tmp_path / "data", log_dir=tmp_path / "logs", upstream_probe_seconds=0.05
    )
    async with build_services(settings, provider=provider) as services:  # type: ignore[arg-type]
        gate = services.gate
    assert isinstance(gate, Gate)
    return gate


async def test_the_local_renderer_gets_no_cold_start_probe(tmp_path: Path) -> None:
    """Offline rendering has no limit to discover, so its starts are not spaced by the probe."""
    gate = await _gate_for(tmp_path, LocalRenderer(long_side=160))
    assert gate.config.probe_gap == 0.0


async def test_a_remote_upstream_with_an_unknown_limit_is_probed(tmp_path: Path) -> None:
    """An upstream whose limit is not configured starts with UPSTREAM_PROBE_SECONDS spacing."""
    gate = await _gate_for(tmp_path, ScriptedProvider(SystemClock()))
    assert gate.config.probe_gap == 0.05
