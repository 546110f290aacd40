"""The seed's projects: list, get, save, delete; owned by the API key like batches."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter

from slidebatch.api.deps import CallerDep, ServicesDep
from slidebatch.api.seed_schemas import ProjectIn, ProjectListItemOut, ProjectOut
from slidebatch.authoring.projects import ProjectBook
from slidebatch.core.project import Project
from slidebatch.services import Services
from slidebatch.storage.projects import ProjectRepository

router = APIRouter(prefix="/projects", tags=["projects"])


def _book(services: Services) -> ProjectBook:
    return ProjectBook(ProjectRepository.on(services.database), services.database.batches)


def _out(project: Project) -> dict[str, Any]:
    return {
        "id": project.id,
        "title": project.title,
        "created_at": project.created_at,
        "updated_at": project.updated_at,
        "template_style_prompt": project.template_style_prompt,
        "slides": [dict(s) for s in project.slides],
        "thumbnail_url": project.thumbnail_url,
    }


@router.get("", response_model=list[ProjectListItemOut], summary="Projects, latest saved first")
async def list_projects(services: ServicesDep, caller: CallerDep) -> Any:
    return await _book(services).summaries(scope=caller.scope)


@router.get("/{project_id}", response_model=ProjectOut, summary="A project with its slides")
async def get_project(project_id: str, services: ServicesDep, caller: CallerDep) -> Any:
    return _out(await _book(services).get(project_id, scope=caller.scope))


@router.post("/save", response_model=ProjectOut, summary="Save (create or replace) a project")
async def save_project(body: ProjectIn, services: ServicesDep, caller: CallerDep) -> Any:
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


@router.delete("/{project_id}", summary="Delete a project (its batches expire as usual)")
async def delete_project(project_id: str, services: ServicesDep, caller: CallerDep) -> Any:
    async with services.audited(caller, "project.delete", project_id):
        await _book(services).delete(project_id, scope=caller.scope)
    return {"message": "Project deleted successfully"}
