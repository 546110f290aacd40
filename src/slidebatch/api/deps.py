"""FastAPI dependencies: the services of this app and who is calling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from slidebatch.services import Services


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: ``owner`` scopes what they see (None: everything)."""

    key_id: str | None
    owner: str | None
    client: str
    request_id: str | None


async def get_caller(request: Request, services: ServicesDep) -> Caller:
    principal = await services.authenticate(request)
    client = request.client.host if request.client else "-"
    request_id = request.headers.get("x-request-id")
    if principal is None:
        return Caller(None, None, client, request_id)
    owner = None if principal.role == "admin" else principal.key_id
    return Caller(principal.key_id, owner, client, request_id)


CallerDep = Annotated[Caller, Depends(get_caller)]
