"""FastAPI dependencies: the services of this app and who is calling."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from slidebatch.api.auth import client_address, principal_dependency
from slidebatch.assist.chat import ChatModel
from slidebatch.assist.select import chat_model_for
from slidebatch.core.access import Caller, Principal
from slidebatch.services import Services
from slidebatch.storage.app_config import AppConfigRepository


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_services(request: Request) -> Services:
    """The app's services. ``async`` on purpose: FastAPI runs a plain ``def`` dependency in
    its thread pool, and this one is in nearly every request (a thread hop per status poll:
    3% of the server's busy time under bench --load)."""
    return services_of(request)


ServicesDep = Annotated[Services, Depends(get_services)]

_principal = principal_dependency(lambda request: services_of(request).authenticator)


async def get_caller(
    request: Request, principal: Annotated[Principal, Depends(_principal)]
) -> Caller:
    return Caller(principal, client_address(request))


CallerDep = Annotated[Caller, Depends(get_caller)]


async def studio_chat_model(services: Services) -> ChatModel | None:
    """The chat model the studio routes call: the settings page's saved ``llm_chat_model``
    when there is one, else ``LLM_CHAT_MODEL`` (``None`` offline)."""
    saved = await AppConfigRepository.on(services.database).load()
    name = saved.get("llm_chat_model")
    return chat_model_for(
        services.settings, services.clock, name if isinstance(name, str) else None
    )
