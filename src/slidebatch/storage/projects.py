"""ProjectRepository: the seed's saved projects, owned like batches, linked to their batches."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import Row, Table, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from slidebatch.core.project import Project, ProjectSummary
from slidebatch.errors import Conflict, NotFound
from slidebatch.storage.seed_tables import ProjectBatchRow, ProjectRow
from slidebatch.storage.table_access import TableAccess
from slidebatch.storage.tables import BatchRow

_PROJECTS = cast(Table, ProjectRow.__table__)
_LINKS = cast(Table, ProjectBatchRow.__table__)
_BATCHES = cast(Table, BatchRow.__table__)


class ProjectRepository(TableAccess):
    """The ``projects`` and ``project_batches`` tables, as ``Project`` values.

    ``scope`` is the caller's owner filter (``None``: admin or open mode, sees everything);
    a project outside it is ``NotFound``, never "someone else's".
    """

    async def summaries(self, *, scope: str | None) -> list[ProjectSummary]:
        """The caller's projects, most recently saved first."""
        columns = (_PROJECTS.c.id, _PROJECTS.c.title, _PROJECTS.c.updated_at)
        query = select(*columns, _PROJECTS.c.thumbnail_url).order_by(
            _PROJECTS.c.updated_at.desc(), _PROJECTS.c.id
        )
        if scope is not None:
            query = query.where(_PROJECTS.c.owner == scope)
        async with self._read("list projects") as connection:
            rows = (await connection.execute(query)).all()
        return [ProjectSummary(r.id, r.title, r.updated_at, r.thumbnail_url) for r in rows]

    async def get(self, project_id: str, *, scope: str | None) -> Project:
        """The project, or ``NotFound``."""
        async with self._read("read project") as connection:
            row = await _row(connection, project_id)
        if row is None or (scope is not None and row.owner != scope):
            raise NotFound(f"project {project_id!r} not found")
        return _project(row)

    async def save(
        self, project: Project, *, scope: str | None, batch_ids: Iterable[str]
    ) -> Project:
        """Insert or replace ``project``; link it to those of ``batch_ids`` the caller may see.

        A new project belongs to ``project.owner``; an existing one keeps its owner and its
        ``created_at``. Saving under an id another key's project has is ``Conflict`` (the id is
        taken: the client can choose another; nothing of that project is told).
        """
        now = self._now()
        values: dict[str, Any] = {
            "title": project.title,
            "template_style_prompt": project.template_style_prompt,
            "slides_json": json.dumps(list(project.slides), ensure_ascii=False),
            "thumbnail_url": project.thumbnail_url,
            "updated_at": now,
        }
        async with self._write("save project") as connection:
            existing = await _row(connection, project.id)
            if existing is not None and scope is not None and existing.owner != scope:
                raise Conflict(f"project id {project.id!r} is taken; save under another id")
            if existing is None:
                values |= {"id": project.id, "owner": project.owner, "created_at": now}
                await connection.execute(insert(_PROJECTS).values(**values))
            else:
                await connection.execute(
                    update(_PROJECTS).where(_PROJECTS.c.id == project.id).values(**values)
                )
            await self._relink(connection, project.id, set(batch_ids), scope)
            row = await _row(connection, project.id)
        assert row is not None
        return _project(row)

    async def _relink(
        self, connection: AsyncConnection, project_id: str, batch_ids: set[str], scope: str | None
    ) -> None:
        await connection.execute(delete(_LINKS).where(_LINKS.c.project_id == project_id))
        if not batch_ids:
            return
        visible = select(_BATCHES.c.id).where(_BATCHES.c.id.in_(sorted(batch_ids)))
        if scope is not None:
            visible = visible.where(_BATCHES.c.owner == scope)
        found = sorted((await connection.execute(visible)).scalars())
        if found:
            await connection.execute(
                insert(_LINKS), [{"project_id": project_id, "batch_id": b} for b in found]
            )

    async def delete(self, project_id: str, *, scope: str | None) -> None:
        """Remove the project and its links (its batches stay, and expire as usual)."""
        query = delete(_PROJECTS).where(_PROJECTS.c.id == project_id)
        if scope is not None:
            query = query.where(_PROJECTS.c.owner == scope)
        async with self._write("delete project") as connection:
            await connection.execute(delete(_LINKS).where(_LINKS.c.project_id == project_id))
            result = await connection.execute(query)
        if result.rowcount == 0:
            raise NotFound(f"project {project_id!r} not found")

    async def batches_of(self, project_id: str) -> list[str]:
        """The batches whose images the project shows."""
        query = select(_LINKS.c.batch_id).where(_LINKS.c.project_id == project_id)
        async with self._read("read project links") as connection:
            return sorted((await connection.execute(query)).scalars())

    async def projects_of(self, batch_id: str) -> list[str]:
        """The projects showing images of ``batch_id`` (the other way of the link)."""
        query = select(_LINKS.c.project_id).where(_LINKS.c.batch_id == batch_id)
        async with self._read("read batch links") as connection:
            return sorted((await connection.execute(query)).scalars())


async def _row(connection: AsyncConnection, project_id: str) -> Row[Any] | None:
    query = select(_PROJECTS).where(_PROJECTS.c.id == project_id)
    return (await connection.execute(query)).first()


def _project(row: Row[Any]) -> Project:
    slides = json.loads(row.slides_json)
    return Project(
        id=row.id,
        title=row.title,
        template_style_prompt=row.template_style_prompt,
        slides=tuple(slides),
        created_at=row.created_at,
        updated_at=row.updated_at,
        thumbnail_url=row.thumbnail_url,
        owner=row.owner,
    )
