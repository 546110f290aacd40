"""The seed's settings page: ``/config`` and its reset, test, status and validate calls.

Admin keys only (open mode counts as admin); secrets leave masked. See
``authoring.app_config`` for what saving a value does and does not change.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body

from slidebatch.api.deps import CallerDep, ServicesDep
from slidebatch.api.schemas import ErrorOut
from slidebatch.api.seed_schemas import (
    AppConfigIn,
    AppConfigOut,
    ConfigCheckOut,
    ConfigStatusOut,
    ConnectionTestIn,
    ConnectionTestOut,
)
from slidebatch.authoring.app_config import (
    MASK,
    environment_config,
    masked,
    merged_update,
    problems,
)
from slidebatch.authoring.connection import refuse_test, test_connection, upstream_of
from slidebatch.core.access import Caller
from slidebatch.errors import Forbidden
from slidebatch.services import Services
from slidebatch.storage.app_config import AppConfigRepository

router = APIRouter(
    prefix="/config",
    tags=["settings page"],
    responses={403: {"model": ErrorOut, "description": "the key is not an admin key"}},
)


def _admin(caller: Caller) -> None:
    if not caller.principal.is_admin:
        raise Forbidden("the settings endpoints need an admin key")


async def _current(services: Services) -> dict[str, Any]:
    saved = await AppConfigRepository.on(services.database).load()
    return environment_config(services.settings) | saved


async def _shown(services: Services) -> AppConfigOut:
    # Saved values passed AppConfigIn on their way in, so they fit the environment's fields.
    return AppConfigOut.model_validate(masked(await _current(services)))


@router.get("", response_model=AppConfigOut, summary="The settings (secrets masked)")
@router.get("/", response_model=AppConfigOut, include_in_schema=False)
async def get_config(services: ServicesDep, caller: CallerDep) -> AppConfigOut:
    _admin(caller)
    return await _shown(services)


@router.post(
    "",
    response_model=AppConfigOut,
    summary="Save settings (a masked secret sent back keeps the stored one)",
)
@router.post("/", response_model=AppConfigOut, include_in_schema=False)
async def save_config(body: AppConfigIn, services: ServicesDep, caller: CallerDep) -> AppConfigOut:
    _admin(caller)
    update = merged_update(await _current(services), body.model_dump(exclude_none=True))
    async with services.audited(caller, "config.save", "app_config", detail=",".join(update)):
        await AppConfigRepository.on(services.database).store(update)
    return await _shown(services)


@router.post(
    "/reset",
    response_model=AppConfigOut,
    summary="Forget saved settings (back to the environment's)",
)
async def reset_config(services: ServicesDep, caller: CallerDep) -> AppConfigOut:
    _admin(caller)
    async with services.audited(caller, "config.reset", "app_config"):
        await AppConfigRepository.on(services.database).clear()
    return await _shown(services)


@router.post("/test", response_model=ConnectionTestOut, summary="Call the configured upstream once")
async def test(
    body: ConnectionTestIn, services: ServicesDep, caller: CallerDep
) -> ConnectionTestOut:
    _admin(caller)
    current = await _current(services)
    model = body.model or str(current["llm_chat_model"])
    target = upstream_of(services.settings)
    refusal = refuse_test(target, body.api_base, body.api_key)
    if refusal is not None or target is None:
        # refuse_test always says why when there is no upstream: ``or ""`` is for mypy.
        return ConnectionTestOut(
            success=False, message=refusal or "", model=model, response_time=None
        )
    key = body.api_key if body.api_key and not body.api_key.startswith(MASK) else ""
    result = await test_connection(
        services.http,
        services.clock,
        api_base=target.base,
        api_key=key or target.key,
        model=model,
        timeout_seconds=float(body.timeout_seconds or current["llm_timeout_seconds"]),
    )
    return ConnectionTestOut(
        success=result.success,
        message=result.message,
        model=result.model,
        response_time=result.response_time,
    )


@router.get(
    "/status", response_model=ConfigStatusOut, summary="Whether the settings are complete and valid"
)
async def status(services: ServicesDep, caller: CallerDep) -> ConfigStatusOut:
    _admin(caller)
    saved = await AppConfigRepository.on(services.database).load()
    current = environment_config(services.settings) | saved
    errors = problems(current)
    return ConfigStatusOut(
        is_configured=bool(saved) or bool(current["llm_api_key"]),
        has_api_key=bool(str(current["llm_api_key"]).strip()),
        config_file_exists=bool(saved),
        config_file_path="database: app_config",
        validation_errors=errors,
        is_valid=not errors,
        provider=services.provider.name,
    )


@router.post(
    "/validate", response_model=ConfigCheckOut, summary="Check settings without saving them"
)
async def validate(
    services: ServicesDep, caller: CallerDep, config: dict[str, Any] = Body(...)
) -> ConfigCheckOut:
    _admin(caller)
    try:
        checked = AppConfigIn.model_validate(config)
    except ValueError as exc:
        return ConfigCheckOut(valid=False, errors=[f"配置格式错误: {exc}"])
    errors = problems((await _current(services)) | checked.model_dump(exclude_none=True))
    return ConfigCheckOut(valid=not errors, errors=errors)
