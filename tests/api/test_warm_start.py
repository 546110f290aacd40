"""The served app starts warm: what FastAPI builds at a route's first match is built before
the first request, and what the start built leaves garbage collections (``gc.freeze``)."""

from __future__ import annotations

import gc
from pathlib import Path

import pydantic
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
    app = app_module.create_app(_settings(tmp_path), warm_start=True)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() > 10_000
    assert gc.get_freeze_count() == 0


def test_a_warm_app_builds_no_models_in_its_first_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first request to a route builds none of its models' validators or serializers
    (FastAPI builds them at a route's first match: ~90 ms for the first request, with the
    event loop stopped)."""
    built: list[object] = []
    real_init = pydantic.TypeAdapter.__init__

    def recording(self: pydantic.TypeAdapter[object], *args: object, **kwargs: object) -> None:
        built.append(args[0] if args else kwargs.get("type"))
        real_init(self, *args, **kwargs)  # type: ignore[arg-type]

    app = app_module.create_app(_settings(tmp_path), warm_start=True)
    with TestClient(app) as client:
        monkeypatch.setattr(pydantic.TypeAdapter, "__init__", recording)
        assert client.get("/api/slide/batch?limit=1").status_code == 200
        assert client.get("/api/slide/batch/nope").status_code == 404
        created = client.post(
            "/api/slide/batch/generate?wait=false",
            json={"slides": [{"page_num": 1, "title": "One", "content_text": "One"}]},
        )
        assert created.status_code < 300, created.text
        assert client.get("/healthz").status_code == 200
    assert built == []


def test_serve_builds_its_app_frozen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``slidebatch serve`` asks for the warm start (tests build apps cold: it costs time)."""
    asked: list[bool] = []
    real = app_module.create_app

    def recording(*args: object, warm_start: bool = False, **kwargs: object) -> object:
        asked.append(warm_start)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(app_module, "create_app", recording)
    monkeypatch.setattr(Server, "run", lambda *args, **kwargs: None)
    serve_cmd._run(_settings(tmp_path), "warning")
    assert asked == [True]
