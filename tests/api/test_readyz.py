"""/readyz notices a SQLite file deleted or replaced under the running server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from slidebatch.api.app import create_app
from slidebatch.config import load_settings


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    settings = load_settings(
        data_dir=tmp_path / "data", log_dir=tmp_path / "logs", image_provider="local"
    )
    with TestClient(create_app(settings)) as client:
        yield client, tmp_path / "data" / "slidebatch.db"


def _remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def test_a_deleted_sqlite_file_makes_the_server_not_ready(
    served: tuple[TestClient, Path],
) -> None:
    """Deleting the database file under a running server: /readyz answers 503 and says why."""
    client, database = served
    assert client.get("/readyz").status_code == 200
    _remove_database(database)
    answer = client.get("/readyz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "unavailable"
    assert "was deleted" in body["database_problem"]


def test_a_replaced_sqlite_file_makes_the_server_not_ready(
    served: tuple[TestClient, Path],
) -> None:
    """Another file in the database's place (new inode, no schema) is not the database opened."""
    client, database = served
    _remove_database(database)
    database.write_bytes(b"")
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert "replaced" in answer.json()["database_problem"]


def test_a_healthy_database_reports_no_problem(served: tuple[TestClient, Path]) -> None:
    """While nothing happened to the file, /readyz is ready with no database_problem."""
    client, _ = served
    body = client.get("/readyz").json()
    assert body["database"] == "ok"
    assert body["database_problem"] is None
