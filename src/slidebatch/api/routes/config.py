"""``config/validate`` and ``config/optimal``: the seed's tuning endpoints, made honest."""

from __future__ import annotations

from fastapi import APIRouter, Query

from slidebatch.api.deps import CallerDep, ServicesDep
from slidebatch.api.schemas import ConfigOptimalOut, ConfigValidateOut, SlidesCountIn
from slidebatch.services import Services

router = APIRouter(prefix="/slide/batch/config", tags=["config"])


@router.get("/validate", response_model=ConfigValidateOut, summary="Check the settings")
async def validate(services: ServicesDep, caller: CallerDep) -> ConfigValidateOut:
    return ConfigValidateOut.of(services.advisor().validate())


@router.post("/optimal", response_model=ConfigOptimalOut, summary="Recommended workers and time")
async def optimal_post(
    body: SlidesCountIn, services: ServicesDep, caller: CallerDep
) -> ConfigOptimalOut:
    return await _optimal(services, body.slides_count)


@router.get("/optimal", response_model=ConfigOptimalOut, summary="Recommended workers and time")
async def optimal_get(
    services: ServicesDep,
    caller: CallerDep,
    slides_count: int = Query(..., ge=1, le=100_000),
) -> ConfigOptimalOut:
    return await _optimal(services, slides_count)


async def _optimal(services: Services, slides_count: int) -> ConfigOptimalOut:
    answer = ConfigOptimalOut.of(services.advisor().optimal(slides_count))
    unit = await services.unit_cost()
    return answer.model_copy(
        update={
            "estimated_cost": unit.estimate(slides_count),
            "cost_per_image": unit.per_image,
            "cost_basis": str(unit.source),
        }
    )
