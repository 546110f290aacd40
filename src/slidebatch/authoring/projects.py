"""Projects: the seed's saved decks, linked both ways to the batches that drew their images.

Saving a project links it to every batch its slides' ``image_url``s point into (a linked
batch is kept past BATCH_CLEANUP_HOURS). Reading one brings each slide up to date with
its batch: a slide regenerated in its batch after the save shows the new image.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from slidebatch.core.batch import SlideRecord
from slidebatch.core.project import Project, ProjectSummary, batch_ids_in, cover_thumbnail
from slidebatch.core.states import SlideState
from slidebatch.engine.answers import image_url
from slidebatch.storage.projects import ProjectRepository
from slidebatch.storage.repository import BatchRepository


class ProjectBook:
    """Project operations for the API: save with links, read with current images."""

    def __init__(self, projects: ProjectRepository, batches: BatchRepository) -> None:
        self._projects = projects
        self._batches = batches

    async def summaries(self, *, scope: str | None) -> list[ProjectSummary]:
        return await self._projects.summaries(scope=scope)

    async def save(self, project: Project, *, scope: str | None) -> Project:
        """Store ``project`` (thumbnail from its cover slide) and link its batches."""
        thumbnail = cover_thumbnail(project.slides, project.thumbnail_url)
        saved = await self._projects.save(
            replace(project, thumbnail_url=thumbnail),
            scope=scope,
            batch_ids=batch_ids_in(project.slides),
        )
        return await self._current(saved)

    async def get(self, project_id: str, *, scope: str | None) -> Project:
        return await self._current(await self._projects.get(project_id, scope=scope))

    async def delete(self, project_id: str, *, scope: str | None) -> None:
        await self._projects.delete(project_id, scope=scope)

    async def _current(self, project: Project) -> Project:
        records: dict[tuple[str, str], SlideRecord] = {}
        for batch_id in await self._projects.batches_of(project.id):
            for record in await self._batches.get_slides(batch_id):
                records.setdefault((batch_id, record.slide.id), record)
        if not records:
            return project
        slides = tuple(_updated(slide, records) for slide in project.slides)
        return replace(project, slides=slides)


def _updated(
    slide: Mapping[str, Any], records: Mapping[tuple[str, str], SlideRecord]
) -> Mapping[str, Any]:
    url = slide.get("image_url")
    slide_id = str(slide.get("id", ""))
    linked = batch_ids_in([slide])
    for batch_id in linked:
        record = records.get((batch_id, slide_id))
        if record is None or record.state is not SlideState.DONE:
            continue
        current = image_url(batch_id, record.image_file)
        if current and current != url:
            return dict(slide) | {
                "image_url": current,
                "final_prompt": record.final_prompt,
                "status": "done",
            }
    return slide
