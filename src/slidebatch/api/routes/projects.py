"""The seed's projects: list, get, save, delete; owned by the API key like batches."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from pydantic import TypeAdapter

from slidebatch.api.deps import CallerDep, ServicesDep
from slidebatch.api.schemas import ErrorOut
from slidebatch.api.seed_schemas import (
    MessageOut,
    ProjectIn,
    ProjectListItemOut,
    ProjectOut,
    SlideDataOut,
)
from slidebatch.authoring.projects import ProjectBook
from slidebatch.core.project import Project
from slidebatch.services import Services
from slidebatch.storage.projects import ProjectRepository

router = APIRouter(prefix="/projects", tags=["projects"])
_SAVED_SLIDES = TypeAdapter(list[SlideDataOut])


def _book(services: Services) -> ProjectBook:
    return ProjectBook(ProjectRepository.on(services.database), services.database.batches)


def _out(project: Project) -> ProjectOut:
    # A stored slide is SlideData.model_dump() (every field), its image brought up to date.
    return ProjectOut(
        id=project.id,
        title=project.title,
        created_at=project.created_at,
        updated_at=project.updated_at,
        template_style_prompt=project.template_style_prompt,
        slides=_SAVED_SLIDES.validate_python(project.slides),
        thumbnail_url=project.thumbnail_url,
    )


@router.get("", response_model=list[ProjectListItemOut], summary="Projects, latest saved first")
async def list_projects(services: ServicesDep, caller: CallerDep) -> list[ProjectListItemOut]:
    summaries = await _book(services).summaries(scope=caller.scope)
    return [
        ProjectListItemOut(
            id=s.id, title=s.title, updated_at=s.updated_at, thumbnail_url=s.thumbnail_url
        )
        for s in summaries
    ]


@router.get("/{project_id}", response_model=ProjectOut, summary="A project with its slides")
async def get_project(project_id: str, services: ServicesDep, caller: CallerDep) -> ProjectOut:
    return _out(await _book(services).get(project_id, scope=caller.scope))


@router.post(
    "/save",
    response_model=ProjectOut,
    summary="Save (create or replace) a project",
    responses={409: {"model": ErrorOut, "description": "another key's project has this id"}},
)
async def save_project(body: ProjectIn, services: ServicesDep, caller: CallerDep) -> ProjectOut:
    now = datetime.now(UTC)
    project = Project(
        id=body.id,
        title=body.title or "未命名项目",
        template_style_prompt=body.template_style_prompt,
        slides=tuple(s.model_dump(mode="json") for s in body.slides),
        created_at=now,
        updated_at=now,
        thumbnail_url=body.thumbnail_url,
        owner=caller.owner,
    )
    async with services.audited(caller, "project.save", body.id):
        saved = await _book(services).save(project, scope=caller.scope)
    return _out(saved)


@router.delete(
    "/{project_id}",
    response_model=MessageOut,
    summary="Delete a project (its batches expire as usual)",
)
async def delete_project(project_id: str, services: ServicesDep, caller: CallerDep) -> MessageOut:
    async with services.audited(caller, "project.delete", project_id):
        await _book(services).delete(project_id, scope=caller.scope)
    return MessageOut(message="Project deleted successfully")
