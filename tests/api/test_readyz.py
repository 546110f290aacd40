"""/readyz notices a SQLite file deleted or replaced under the running server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from slidebatch.api.app import create_app
from slidebatch.config import load_settings
from slidebatch.storage.errors import StorageUnavailable


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


def test_a_new_connection_after_the_deletion_creates_no_file(
    served: tuple[TestClient, Path],
) -> None:
    """Two reads at once after the deletion need a second pooled connection (as a background
    read beside a request does under load): it is refused, no empty database appears in the
    file's place, and /readyz and writes still say the file was deleted, not replaced."""
    client, database = served
    engine = client.app.state.services.database.engine  # type: ignore[attr-defined]
    _remove_database(database)

    async def two_reads_at_once() -> None:
        async with engine.connect() as first, engine.connect() as second:
            for connection in (first, second):
                await connection.execute(text("SELECT 1"))

    with pytest.raises(StorageUnavailable, match="was deleted"):
        client.portal.call(two_reads_at_once)  # type: ignore[union-attr]
    assert not database.exists()
    assert "was deleted" in client.get("/readyz").json()["database_problem"]
    answer = client.post("/api/projects/save", json={"id": "p1", "title": "T", "slides": []})
    assert answer.status_code == 503, answer.text
    assert "was deleted" in answer.json()["detail"]


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


def _slides(count: int) -> list[dict[str, object]]:
    return [{"id": f"s{n}", "page_num": n, "title": f"Slide {n}"} for n in range(1, count + 1)]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        (
            "POST",
            "/api/slide/batch/generate?wait=false",
            {"slides": _slides(2), "style_prompt": ""},
        ),
        ("POST", "/api/projects/save", {"id": "p1", "title": "T", "slides": []}),
        ("POST", "/api/template/save", {"name": "T", "style_prompt": "flat"}),
    ],
)
def test_writes_after_the_sqlite_file_is_deleted_fail_with_503(
    served: tuple[TestClient, Path], method: str, path: str, body: dict[str, object]
) -> None:
    """No write lands in a deleted file's inode: the client gets a 503 naming the cause."""
    client, database = served
    _remove_database(database)
    answer = client.request(method, path, json=body)
    assert answer.status_code == 503, answer.text
    assert "was deleted" in answer.json()["detail"]
