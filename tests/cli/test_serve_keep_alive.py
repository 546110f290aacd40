"""The server keeps an idle connection longer than a client does, so the client closes first.

A server that closes a kept-alive connection at the moment a client reuses it resets the
request the client just sent (httpx ``ReadError``); with uvicorn's 5 s, equal to httpx's pool,
a burst of submits to a busy server met that (``bench --load`` filling its list).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from slidebatch.cli import serve_cmd, worker_cmd
from slidebatch.cli.server import Server
from slidebatch.config import Settings, load_settings


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data", log_dir=tmp_path / "logs", image_provider="local", **overrides
    )


def _served_with(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    options: list[dict[str, object]] = []
    monkeypatch.setattr(Server, "run", lambda _self, _app, **kw: options.append(kw))
    return options


def test_serve_keeps_idle_connections_longer_than_an_httpx_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """By default ``serve`` keeps an idle connection longer than httpx's pool keeps its own."""
    options = _served_with(monkeypatch)
    serve_cmd._run(_settings(tmp_path), "warning")
    client_keeps = httpx.Limits().keepalive_expiry
    assert client_keeps is not None
    kept = options[0]["timeout_keep_alive"]
    assert isinstance(kept, int)
    assert kept > client_keeps


def test_the_keep_alive_is_a_setting_for_serve_and_the_worker_probes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``SERVER_KEEP_ALIVE_SECONDS`` reaches uvicorn from ``serve`` and ``worker --port``."""
    options = _served_with(monkeypatch)
    settings = _settings(tmp_path, server_keep_alive_seconds=120)
    serve_cmd._run(settings, "warning")
    worker_cmd._run_with_probes(settings, "127.0.0.1", 0, "warning")
    assert [o["timeout_keep_alive"] for o in options] == [120, 120]
