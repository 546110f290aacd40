from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI

from slidebatch.api.auth import principal_dependency
from slidebatch.api.errors import install_error_handlers
from slidebatch.core.access import ApiKey, Principal, Role
from slidebatch.core.quota import Quotas
from slidebatch.errors import AuthError, ConfigError
from slidebatch.security.authenticator import (
    Authenticator,
    check_bind_allowed,
    is_loopback,
    presented_secret,
)
from slidebatch.storage.database import Database
from slidebatch.storage.keys import KeyRepository, generate_key

T0 = datetime(2026, 11, 3, tzinfo=UTC)
# How the app declares the dependency once (module level: annotations are strings here).
CurrentPrincipal = Annotated[
    Principal, Depends(principal_dependency(lambda request: request.app.state.authenticator))
]


class FakeKeys:
    """An in-memory KeyStore: secrets map to keys."""

    def __init__(self) -> None:
        self.by_secret: dict[str, ApiKey] = {}

    def add(self, name: str, role: Role = Role.USER, *, revoked: bool = False) -> str:
        key_id, secret = generate_key()
        self.by_secret[secret] = ApiKey(
            id=key_id, name=name, role=role, created_at=T0, revoked_at=T0 if revoked else None
        )
        return secret

    async def verify(self, secret: str) -> ApiKey | None:
        return self.by_secret.get(secret)

    async def any_exist(self) -> bool:
        return bool(self.by_secret)


def _app(authenticator: Authenticator) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.state.authenticator = authenticator

    @app.get("/whoami")
    async def whoami(principal: CurrentPrincipal) -> dict[str, object]:
        return {"key_id": principal.key_id, "role": str(principal.role), "name": principal.name}

    return app


async def _client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        yield client


@pytest.fixture
def keys() -> FakeKeys:
    return FakeKeys()


@pytest.fixture
async def client(keys: FakeKeys) -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client(_app(Authenticator(keys, allow_open=True))):
        yield c


async def test_no_key_with_keys_configured_is_401(
    client: httpx.AsyncClient, keys: FakeKeys
) -> None:
    """Once a key exists, a request without one is a 401 JSON error."""
    keys.add("alice")
    answer = await client.get("/whoami")
    assert answer.status_code == 401
    assert "API key is required" in answer.json()["detail"]


async def test_a_wrong_key_is_401(client: httpx.AsyncClient, keys: FakeKeys) -> None:
    """A key that matches no stored key is a 401 that does not echo the key."""
    keys.add("alice")
    wrong = generate_key()[1]
    answer = await client.get("/whoami", headers={"X-API-Key": wrong})
    assert answer.status_code == 401
    assert wrong not in answer.text


async def test_a_revoked_key_is_401(client: httpx.AsyncClient, keys: FakeKeys) -> None:
    """A revoked key is refused with a message saying so."""
    secret = keys.add("old", revoked=True)
    answer = await client.get("/whoami", headers={"Authorization": f"Bearer {secret}"})
    assert answer.status_code == 401
    assert "revoked" in answer.json()["detail"]


@pytest.mark.parametrize("header", ["Authorization", "X-API-Key"])
async def test_a_valid_key_is_accepted_in_either_header(
    client: httpx.AsyncClient, keys: FakeKeys, header: str
) -> None:
    """A valid key works as a Bearer token and as X-API-Key."""
    secret = keys.add("alice")
    value = f"Bearer {secret}" if header == "Authorization" else secret
    answer = await client.get("/whoami", headers={header: value})
    assert answer.status_code == 200
    assert answer.json()["name"] == "alice"
    assert answer.json()["role"] == "user"


async def test_open_mode_on_loopback_without_keys(client: httpx.AsyncClient) -> None:
    """With no keys and a loopback bind, requests act as the anonymous admin-like principal."""
    answer = await client.get("/whoami")
    assert answer.json() == {"key_id": None, "role": "admin", "name": "anonymous"}


async def test_no_open_mode_off_loopback(keys: FakeKeys) -> None:
    """Without open mode allowed, even an empty key store means every request needs a key."""
    async for client in _client(_app(Authenticator(keys, allow_open=False))):
        assert (await client.get("/whoami")).status_code == 401


async def test_the_key_quotas_get_the_server_defaults() -> None:
    """A key's unset quotas come from the server's defaults; its own ones win."""
    keys = FakeKeys()
    secret = keys.add("alice")
    key = keys.by_secret[secret]
    keys.by_secret[secret] = ApiKey(
        id=key.id,
        name=key.name,
        role=key.role,
        created_at=T0,
        quotas=Quotas(max_concurrent_batches=1),
    )
    auth = Authenticator(keys, allow_open=True, default_quotas=Quotas(2, 100, 5.0))
    principal = await auth.authenticate(None, secret)
    assert principal.quotas == Quotas(1, 100, 5.0)
    assert principal.owner_filter == key.id


async def test_admins_see_everything_users_only_their_own() -> None:
    """owner_filter is None for admins and open mode, the key id for users."""
    assert Principal("k1", "a", Role.ADMIN).owner_filter is None
    assert Principal("k2", "u", Role.USER).owner_filter == "k2"
    assert Principal.anonymous().owner_filter is None
    assert Principal("k2", "u", Role.USER).owner == "k2"


async def test_an_oversized_key_is_refused_without_lookup(keys: FakeKeys) -> None:
    """A megabyte-long header value is an AuthError, not a hash of a megabyte."""
    keys.add("alice")
    with pytest.raises(AuthError):
        await Authenticator(keys, allow_open=True).authenticate(None, "x" * 1_000_000)


def test_presented_secret_prefers_x_api_key() -> None:
    """X-API-Key wins over Authorization; other schemes than Bearer are ignored."""
    assert presented_secret("Bearer a", "b") == "b"
    assert presented_secret("bearer  a ", None) == "a"
    assert presented_secret("Basic dXNlcjpwYXNz", None) is None
    assert presented_secret(None, "  ") is None


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    """Only loopback addresses and localhost count as loopback."""
    assert is_loopback(host) is loopback


def test_a_public_bind_without_keys_is_refused() -> None:
    """0.0.0.0 with no keys refuses to start, naming the ways out."""
    with pytest.raises(ConfigError, match="--insecure-no-auth"):
        check_bind_allowed("0.0.0.0", keys_exist=False, insecure_no_auth=False)


def test_a_public_bind_is_allowed_with_keys_or_explicitly() -> None:
    """Keys, or the explicit insecure flag, or a loopback address, let the server start."""
    check_bind_allowed("0.0.0.0", keys_exist=True, insecure_no_auth=False)
    check_bind_allowed("0.0.0.0", keys_exist=False, insecure_no_auth=True)
    check_bind_allowed("127.0.0.1", keys_exist=False, insecure_no_auth=False)


async def test_the_real_key_repository_end_to_end(tmp_path: Path) -> None:
    """Keys created in SQLite authenticate; revoking one makes the next request a 401."""
    db = await Database.open(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    try:
        repo = KeyRepository.on(db)
        async for client in _client(_app(Authenticator(repo, allow_open=True))):
            assert (await client.get("/whoami")).json()["key_id"] is None  # open mode
            key, secret = await repo.create(name="ci", role=Role.ADMIN)
            assert (await client.get("/whoami")).status_code == 401
            ok = await client.get("/whoami", headers={"X-API-Key": secret})
            assert ok.json() == {"key_id": key.id, "role": "admin", "name": "ci"}
            await repo.revoke(key.id)
            assert (await client.get("/whoami", headers={"X-API-Key": secret})).status_code == 401
    finally:
        await db.close()


def test_openapi_declares_both_key_schemes(keys: FakeKeys) -> None:
    """The dependency shows up in OpenAPI as Bearer and X-API-Key security schemes."""
    schemes = _app(Authenticator(keys, allow_open=True)).openapi()["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http", "apiKey"}
