"""FastAPI dependencies: the services of this app and who is calling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer

from slidebatch.api.auth import client_address
from slidebatch.core.access import Principal
from slidebatch.services import Services

# Declared as security schemes so OpenAPI (and schemathesis) know how to authenticate.
_bearer = HTTPBearer(auto_error=False, description="An API key as a Bearer token")
_header_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key")
# EventSource, <img> and download links cannot send headers: they may pass ?api_key=.
_query_key = APIKeyQuery(
    name="api_key", auto_error=False, description="An API key (SSE, downloads)"
)


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: ``owner`` is stamped on what they create; ``scope`` limits what they see."""

    principal: Principal
    client: str

    @property
    def key_id(self) -> str | None:
        return self.principal.key_id

    @property
    def owner(self) -> str | None:
        return self.principal.owner

    @property
    def scope(self) -> str | None:
        """``None`` for admins and open mode (everything), else the caller's own key id."""
        return self.principal.owner_filter


async def get_caller(
    request: Request,
    services: ServicesDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_header_key)],
    query_key: Annotated[str | None, Depends(_query_key)],
) -> Caller:
    authorization = f"Bearer {bearer.credentials}" if bearer is not None else None
    principal = await services.authenticator.authenticate(authorization, header_key or query_key)
    request.state.principal = principal
    return Caller(principal, client_address(request))


CallerDep = Annotated[Caller, Depends(get_caller)]
