"""FastAPI dependencies: the services of this app and who is calling."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from slidebatch.api.auth import client_address, principal_dependency
from slidebatch.core.access import Caller, Principal
from slidebatch.services import Services


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

_principal = principal_dependency(lambda request: get_services(request).authenticator)


async def get_caller(
    request: Request, principal: Annotated[Principal, Depends(_principal)]
) -> Caller:
    return Caller(principal, client_address(request))


CallerDep = Annotated[Caller, Depends(get_caller)]
