"""A slide's candidates: list the images its candidates rounds made, and pick one."""

from __future__ import annotations

from fastapi import APIRouter, Path
from pydantic import BaseModel

from slidebatch.api.deps import CallerDep, ServicesDep
from slidebatch.api.schemas import SlideResultOut
from slidebatch.engine.answers import SlideAnswer, image_url

router = APIRouter(prefix="/slide/batch", tags=["batches"])


class CandidateOut(BaseModel):
    n: int
    image_url: str
    chosen: bool


class CandidatesOut(BaseModel):
    batch_id: str
    slide_id: str
    candidates: list[CandidateOut]


@router.get(
    "/{batch_id}/slides/{slide_id}/candidates",
    response_model=CandidatesOut,
    summary="The images a slide's candidates rounds made (regenerate with candidates: N)",
)
async def list_candidates(
    batch_id: str, slide_id: str, services: ServicesDep, caller: CallerDep
) -> CandidatesOut:
    repo = services.engine.repo
    await repo.get_batch(batch_id, owner=caller.scope)
    key = await repo.find_slide_key(batch_id, slide_id)
    slide = await repo.get_slide(batch_id, key)
    found = await repo.candidates(batch_id, key)
    items = [
        CandidateOut(
            n=c.seq,
            image_url=image_url(batch_id, c.image_file) or "",
            # by the row's mark: identical images share a file name
            chosen=c.chosen and c.image_file == slide.image_file,
        )
        for c in found
    ]
    return CandidatesOut(batch_id=batch_id, slide_id=slide_id, candidates=items)


@router.post(
    "/{batch_id}/slides/{slide_id}/candidates/{n}/pick",
    response_model=SlideResultOut,
    summary="Show candidate n as the slide's image (the others are kept)",
)
async def pick_candidate(
    batch_id: str,
    slide_id: str,
    services: ServicesDep,
    caller: CallerDep,
    n: int = Path(..., ge=1, le=1_000_000),
) -> SlideResultOut:
    async with services.audited(caller, "batch.pick", batch_id, detail=f"slide={slide_id} n={n}"):
        record = await services.engine.pick_candidate(batch_id, slide_id, n, owner=caller.scope)
    return SlideResultOut.of(SlideAnswer.of(record))
