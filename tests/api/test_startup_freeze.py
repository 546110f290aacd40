"""The served app leaves what its start built out of garbage collections (``gc.freeze``)."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from slidebatch.api import app as app_module
from slidebatch.cli import serve_cmd
from slidebatch.cli.server import Server
from slidebatch.config import Settings, load_settings


def _settings(tmp_path: Path) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data", log_dir=tmp_path / "logs", image_provider="local"
    )


def test_a_started_app_is_frozen_until_it_stops(tmp_path: Path) -> None:
    """Once started, the objects of the modules, the app and its schemas are frozen: a full
    collection (60-80 ms with the loop stopped) no longer walks them; stopping unfreezes."""
    assert gc.get_freeze_count() == 0
    app = app_module.create_app(_settings(tmp_path), freeze_startup=True)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() > 10_000
    assert gc.get_freeze_count() == 0


def test_serve_builds_its_app_frozen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``slidebatch serve`` asks for the frozen start (tests build apps unfrozen)."""
    asked: list[bool] = []
    real = app_module.create_app

    def recording(*args: object, freeze_startup: bool = False, **kwargs: object) -> object:
        asked.append(freeze_startup)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(app_module, "create_app", recording)
    monkeypatch.setattr(Server, "run", lambda *args, **kwargs: None)
    serve_cmd._run(_settings(tmp_path), "warning")
    assert asked == [True]
