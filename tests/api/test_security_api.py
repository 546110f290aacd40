"""Keys, ownership, quotas, audit and secrets, through the real routes."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from slidebatch.api.app import create_app
from slidebatch.config import Settings, load_settings
from slidebatch.core.access import Role
from slidebatch.core.quota import Quotas
from slidebatch.errors import ConfigError
from slidebatch.services import check_bind
from slidebatch.storage.database import Database
from slidebatch.storage.keys import KeyRepository

DECK = {
    "slides": [{"id": "a", "title": "One"}, {"id": "b", "title": "Two"}],
    "style_prompt": "navy",
}


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        image_provider="local",
        local_render_long_side=96,
        **overrides,
    )


def _create_key(settings: Settings, name: str, role: Role = Role.USER, **quotas: int) -> str:
    async def make() -> str:
        database = await Database.open(settings.effective_database_url)
        try:
            _, secret = await KeyRepository.on(database).create(
                name=name, role=role, quotas=Quotas(**quotas)
            )
        finally:
            await database.close()
        return secret

    return asyncio.run(make())


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return _settings(tmp_path)


@pytest.fixture
def keys(settings: Settings) -> dict[str, str]:
    return {
        "alice": _create_key(settings, "alice"),
        "bob": _create_key(settings, "bob"),
        "admin": _create_key(settings, "ops", Role.ADMIN),
        "tight": _create_key(settings, "tight", max_slides_per_day=3),
    }


@pytest.fixture
def client(settings: Settings, keys: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _as(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def test_no_key_wrong_key_and_revoked_key_are_401(client: TestClient, settings: Settings) -> None:
    """Without a key, with a wrong one, or with a revoked one, batch calls answer 401."""
    assert client.get("/api/slide/batch").status_code == 401
    wrong = client.get("/api/slide/batch", headers=_as("sb_nope_nope"))
    assert wrong.status_code == 401
    assert "not valid" in wrong.json()["detail"]
    secret = _create_key(settings, "short-lived")

    async def revoke() -> None:
        database = await Database.open(settings.effective_database_url)
        repo = KeyRepository.on(database)
        key = await repo.verify(secret)
        assert key is not None
        await repo.revoke(key.id)
        await database.close()

    assert client.get("/api/slide/batch", headers=_as(secret)).status_code == 200
    asyncio.run(revoke())
    revoked = client.get("/api/slide/batch", headers={"Authorization": f"Bearer {secret}"})
    assert revoked.status_code == 401
    assert "revoked" in revoked.json()["detail"]


def test_another_keys_batch_is_404_and_admins_see_all(
    client: TestClient, keys: dict[str, str]
) -> None:
    """Bob cannot read, cancel, export or delete Alice's batch; an admin can read it."""
    batch_id = client.post(
        "/api/slide/batch/generate", json=DECK, headers=_as(keys["alice"])
    ).json()["batch_id"]
    bob = _as(keys["bob"])
    assert client.get(f"/api/slide/batch/{batch_id}", headers=bob).status_code == 404
    assert (
        client.post("/api/slide/batch/status", json={"batch_id": batch_id}, headers=bob).status_code
        == 404
    )
    assert client.post(f"/api/slide/batch/{batch_id}/cancel", headers=bob).status_code == 404
    assert client.get(f"/api/slide/batch/{batch_id}/export.zip", headers=bob).status_code == 404
    assert client.delete(f"/api/slide/batch/{batch_id}", headers=bob).status_code == 404
    assert client.get("/api/slide/batch", headers=bob).json()["total"] == 0
    assert client.get(f"/api/slide/batch/{batch_id}", headers=_as(keys["admin"])).status_code == 200
    listed = client.get("/api/slide/batch", headers=_as(keys["alice"])).json()
    assert [item["batch_id"] for item in listed["items"]] == [batch_id]


def test_query_parameter_key_works_for_downloads(client: TestClient, keys: dict[str, str]) -> None:
    """EventSource and links cannot send headers: ?api_key= authenticates them."""
    batch_id = client.post(
        "/api/slide/batch/generate", json=DECK, headers=_as(keys["alice"])
    ).json()["batch_id"]
    answer = client.get(
        f"/api/slide/batch/{batch_id}/export.zip", params={"api_key": keys["alice"]}
    )
    assert answer.status_code == 200


def test_slides_per_day_quota_is_429_with_retry_after(
    client: TestClient, keys: dict[str, str]
) -> None:
    """A key past its slides-per-day quota gets a 429 with Retry-After and a clear message."""
    tight = _as(keys["tight"])
    assert client.post("/api/slide/batch/generate", json=DECK, headers=tight).status_code == 200
    over = client.post("/api/slide/batch/generate", json=DECK, headers=tight)
    assert over.status_code == 429
    assert int(over.headers["Retry-After"]) >= 1
    assert "slides per day" in over.json()["detail"]


async def test_concurrent_submits_of_one_key_cannot_pass_its_quota_on_one_count(
    settings: Settings, keys: dict[str, str]
) -> None:
    """Five 2-slide submits at once of a key allowed 3 slides a day: one is accepted, the
    others are 429 (each check counted the ones before; all five passed one count)."""
    app = create_app(settings)
    tight = _as(keys["tight"])
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        answers = await asyncio.gather(
            *(
                client.post("/api/slide/batch/generate?wait=false", json=DECK, headers=tight)
                for _ in range(5)
            )
        )
    assert sorted(a.status_code for a in answers) == [202, 429, 429, 429, 429]


def test_every_batch_operation_is_audited(
    client: TestClient, keys: dict[str, str], settings: Settings
) -> None:
    """create, read, export, cancel, retry, regenerate and delete each leave an audit line."""
    alice = _as(keys["alice"])
    batch_id = client.post("/api/slide/batch/generate", json=DECK, headers=alice).json()["batch_id"]
    client.get(f"/api/slide/batch/{batch_id}", headers=alice)
    client.get(f"/api/slide/batch/{batch_id}/export.pdf", headers=alice)
    client.post(f"/api/slide/batch/{batch_id}/cancel", headers=alice)
    client.post(f"/api/slide/batch/{batch_id}/retry", headers=alice)
    client.post(f"/api/slide/batch/{batch_id}/slides/a/regenerate", json={}, headers=alice)
    client.delete(f"/api/slide/batch/{batch_id}", headers=alice)
    client.get(f"/api/slide/batch/{batch_id}", headers=_as(keys["bob"]))
    lines = []
    for path in settings.log_dir.glob("audit_*.log"):
        lines += [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    actions = {(line["action"], line["outcome"]) for line in lines}
    for action in ("create", "read", "export", "cancel", "retry", "regenerate", "delete"):
        assert (f"batch.{action}", "ok") in actions, action
    assert ("batch.read", "not_found") in actions
    assert all(keys["alice"] not in json.dumps(line) for line in lines)
    assert all(line["key_id"] for line in lines if line["action"].startswith("batch."))


def test_body_over_the_limit_is_413(tmp_path: Path) -> None:
    """A request body above MAX_BODY_BYTES answers 413 naming the limit."""
    with TestClient(create_app(_settings(tmp_path, max_body_bytes=2048))) as small:
        answer = small.post(
            "/api/slide/batch/generate",
            json={"slides": [{"title": "x" * 5000}], "style_prompt": ""},
        )
    assert answer.status_code == 413
    assert "MAX_BODY_BYTES" in answer.json()["detail"]


def test_security_headers_and_request_id_on_the_page(tmp_path: Path) -> None:
    """The page carries a CSP and every answer a request id."""
    with TestClient(create_app(_settings(tmp_path))) as open_client:
        page = open_client.get("/")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-request-id"]


def test_non_loopback_bind_without_keys_is_refused(tmp_path: Path) -> None:
    """Binding 0.0.0.0 with no key refuses to start unless told explicitly."""
    exposed = _settings(tmp_path, server_host="0.0.0.0")
    with pytest.raises(ConfigError, match="insecure-no-auth"):
        asyncio.run(check_bind(exposed))
    asyncio.run(check_bind(_settings(tmp_path, server_host="0.0.0.0", insecure_no_auth=True)))
    _create_key(exposed, "first")
    asyncio.run(check_bind(exposed))


def test_a_retried_post_at_the_quota_edge_returns_its_batch(
    client: TestClient, keys: dict[str, str]
) -> None:
    """The same Idempotency-Key returns the first batch even when a new one is over quota."""
    headers = _as(keys["tight"]) | {"Idempotency-Key": "retry-me"}
    first = client.post("/api/slide/batch/generate", json=DECK, headers=headers)
    again = client.post("/api/slide/batch/generate", json=DECK, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json()["batch_id"] == again.json()["batch_id"]


def _pictures(pptx: bytes) -> int:
    from pptx import Presentation
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    deck = Presentation(io.BytesIO(pptx))
    return sum(
        1 for slide in deck.slides for shape in slide.shapes
        if shape.shape_type == MSO_SHAPE_TYPE.PICTURE
    )  # fmt: skip


def test_another_keys_image_url_is_not_pulled_into_an_export(
    client: TestClient, keys: dict[str, str]
) -> None:
    """Bob exporting Alice's image URL gets no picture of hers; Alice gets hers."""
    done = client.post("/api/slide/batch/generate", json=DECK, headers=_as(keys["alice"])).json()
    url = done["results"][0]["image_url"]
    project = {"project": {"title": "p", "slides": [{"title": "x", "image_url": url}]}}
    as_alice = client.post("/api/export/pptx", json=project, headers=_as(keys["alice"]))
    as_bob = client.post("/api/export/pptx", json=project, headers=_as(keys["bob"]))
    assert as_alice.status_code == as_bob.status_code == 200
    assert _pictures(as_alice.content) == 1
    assert _pictures(as_bob.content) == 0


def test_another_keys_image_url_is_not_copied_into_a_template_cover(
    client: TestClient, keys: dict[str, str]
) -> None:
    """A cover naming one of the server's images is copied in only for the key that may
    read its batch: Bob's template keeps Alice's URL as a URL (gone with her batch)."""
    done = client.post("/api/slide/batch/generate", json=DECK, headers=_as(keys["alice"])).json()
    url = done["results"][0]["image_url"]
    covers = {}
    for who in ("alice", "bob"):
        saved = client.post(
            "/api/template/save",
            json={"name": who, "style_prompt": "navy", "cover_image": url},
            headers=_as(keys[who]),
        )
        assert saved.status_code == 200, saved.text
        covers[who] = saved.json()["template"]["cover_image"]
    assert covers["alice"].startswith("/assets/templates/drawn-")
    assert covers["bob"] == url


def test_an_export_naming_one_image_3000_times_is_refused_by_a_limit(
    client: TestClient, keys: dict[str, str]
) -> None:
    """POST /export/pptx with 3,000 slides is a 422 naming BATCH_MAX_SLIDES, before any work."""
    done = client.post("/api/slide/batch/generate", json=DECK, headers=_as(keys["alice"])).json()
    url = done["results"][0]["image_url"]
    slides = [{"title": "x", "image_url": url}] * 3000
    answer = client.post(
        "/api/export/pptx",
        json={"project": {"title": "p", "slides": slides}},
        headers=_as(keys["alice"]),
    )
    assert answer.status_code == 422
    assert "BATCH_MAX_SLIDES" in answer.json()["detail"]
    long_title = [{"title": "t" * 301, "image_url": url}]
    too_long = client.post(
        "/api/export/pptx",
        json={"project": {"title": "p", "slides": long_title}},
        headers=_as(keys["alice"]),
    )
    assert too_long.status_code == 422
    assert "MAX_TITLE_CHARS" in too_long.json()["detail"]
