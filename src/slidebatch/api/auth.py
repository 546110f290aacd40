"""The HTTP side of access control: credentials from a request, as a FastAPI dependency.

The decisions (which key, open mode, bind checks) are in ``slidebatch.security``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer

from slidebatch.core.access import Principal
from slidebatch.security.authenticator import Authenticator


def client_address(request: Request) -> str:
    """The peer address for the audit trail (``-`` when the server does not know it)."""
    return request.client.host if request.client else "-"


# Declared as security schemes so OpenAPI (and schemathesis) know how to authenticate.
_bearer = HTTPBearer(auto_error=False, description="An API key as a Bearer token")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key")
# EventSource, <img> and download links cannot send headers: they may pass ?api_key=.
_query_key = APIKeyQuery(name="api_key", auto_error=False, description="An API key (SSE, files)")


def principal_dependency(
    get_authenticator: Callable[[Request], Authenticator],
) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency resolving the caller's ``Principal`` (``AuthError`` -> 401).

    ``get_authenticator`` finds the app's authenticator, e.g.
    ``lambda request: request.app.state.services.authenticator``.
    """

    async def principal(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        api_key: Annotated[str | None, Depends(_api_key)],
        query_key: Annotated[str | None, Depends(_query_key)],
    ) -> Principal:
        authorization = f"Bearer {bearer.credentials}" if bearer is not None else None
        found = await get_authenticator(request).authenticate(authorization, api_key or query_key)
        request.state.principal = found
        return found

    return principal
