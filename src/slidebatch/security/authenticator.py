"""Who is calling: API keys from ``Authorization: Bearer`` or ``X-API-Key``, and open mode.

Open mode: with no key ever created and a loopback bind (or ``--insecure-no-auth``), every
request acts as an anonymous admin-like principal, so the embedded default keeps working
with nothing to configure. As soon as one key exists, every request needs a valid one.
"""

from __future__ import annotations

import ipaddress
from typing import Protocol

from slidebatch.core.access import ApiKey, Principal
from slidebatch.core.quota import Quotas
from slidebatch.errors import AuthError, ConfigError

MAX_SECRET_CHARS = 512  # longer than any key we issue; refuse before hashing megabytes


class KeyStore(Protocol):
    """``storage.keys.KeyRepository``, the part authentication needs."""

    async def verify(self, secret: str) -> ApiKey | None: ...

    async def any_exist(self) -> bool: ...


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_bind_allowed(host: str, keys_exist: bool, insecure_no_auth: bool) -> None:
    """Raise ``ConfigError`` when serving ``host`` would expose the API without any key."""
    if is_loopback(host) or keys_exist or insecure_no_auth:
        return
    raise ConfigError(
        f"refusing to serve {host} without API keys: anyone who can reach it could spend "
        "your upstream budget. Create a key first (slidebatch keys create --name NAME), bind "
        "to 127.0.0.1, or pass --insecure-no-auth (INSECURE_NO_AUTH=true) if you mean it."
    )


def presented_secret(authorization: str | None, api_key: str | None) -> str | None:
    """The key a request presents: ``X-API-Key``, else a Bearer token; ``None`` if neither."""
    if api_key and api_key.strip():
        return api_key.strip()
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return None


class Authenticator:
    """Turns a request's credentials into a ``Principal`` or raises ``AuthError``."""

    def __init__(
        self, keys: KeyStore, *, allow_open: bool, default_quotas: Quotas | None = None
    ) -> None:
        """``allow_open``: loopback bind or ``--insecure-no-auth`` (open mode while no keys)."""
        self._keys = keys
        self._allow_open = allow_open
        self._defaults = default_quotas or Quotas()

    async def open_mode(self) -> bool:
        """True while requests need no key (no key exists and open mode is allowed)."""
        return self._allow_open and not await self._keys.any_exist()

    async def authenticate(self, authorization: str | None, api_key: str | None) -> Principal:
        """The principal for these header values."""
        if await self.open_mode():
            # Auth is off: a key a client sends anyway is not checked (there is none to match).
            return Principal.anonymous()
        secret = presented_secret(authorization, api_key)
        if secret is None:
            raise AuthError("an API key is required: send Authorization: Bearer <key> or X-API-Key")
        if len(secret) > MAX_SECRET_CHARS:
            raise AuthError("the API key is not valid")
        key = await self._keys.verify(secret)
        if key is None:
            raise AuthError("the API key is not valid")
        if key.revoked:
            raise AuthError("the API key has been revoked")
        return Principal.of_key(key, self._defaults)
