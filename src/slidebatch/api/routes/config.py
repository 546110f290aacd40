"""``config/validate`` and ``config/optimal``: the seed's tuning endpoints, made honest."""

from __future__ import annotations

from fastapi import APIRouter, Query

from slidebatch.api.deps import CallerDep, ServicesDep
from slidebatch.api.schemas import ConfigOptimalOut, ConfigValidateOut, SlidesCountIn
from slidebatch.core.limits import check_slide_count
from slidebatch.services import Services

router = APIRouter(prefix="/slide/batch/config", tags=["config"])


@router.get("/validate", response_model=ConfigValidateOut, summary="Check the settings")
async def validate(services: ServicesDep, caller: CallerDep) -> ConfigValidateOut:
    return ConfigValidateOut.of(services.advisor().validate())


@router.post("/optimal", response_model=ConfigOptimalOut, summary="Recommended workers and time")
async def optimal_post(
    body: SlidesCountIn, services: ServicesDep, caller: CallerDep
) -> ConfigOptimalOut:
    return await _optimal(services, body)


@router.get("/optimal", response_model=ConfigOptimalOut, summary="Recommended workers and time")
async def optimal_get(
    services: ServicesDep,
    caller: CallerDep,
    slides_count: int = Query(..., ge=1, le=100_000),
    max_workers: str | None = Query(
        None,
        pattern=r"^(auto|[1-9][0-9]{0,5})$",
        description="The batch's cap, as in a batch request; absent or 'auto': automatic",
    ),
) -> ConfigOptimalOut:
    body = SlidesCountIn.model_validate({"slides_count": slides_count, "max_workers": max_workers})
    return await _optimal(services, body)


async def _optimal(services: Services, asked: SlidesCountIn) -> ConfigOptimalOut:
    """The advice for ``asked``; a deck the server would refuse is refused here too (422)."""
    slides_count = asked.slides_count
    check_slide_count(slides_count, services.limits)
    answer = ConfigOptimalOut.of(services.advisor().optimal(slides_count, asked.workers))
    unit = await services.unit_cost()
    return answer.model_copy(
        update={
            "estimated_cost": unit.estimate(slides_count),
            "cost_per_image": unit.per_image,
            "cost_basis": str(unit.source),
        }
    )
