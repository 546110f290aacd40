"""TemplateRepository: the seed's style templates, owned like batches."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Table, insert, select, update

from slidebatch.core.project import Template
from slidebatch.errors import NotFound
from slidebatch.storage.seed_tables import TemplateRow
from slidebatch.storage.table_access import TableAccess

_TEMPLATES = cast(Table, TemplateRow.__table__)


class TemplateRepository(TableAccess):
    """The ``templates`` table, as ``Template`` values (``scope`` as for projects)."""

    async def all(self, *, scope: str | None) -> list[Template]:
        """The caller's templates, oldest first (the seed's order)."""
        query = select(_TEMPLATES).order_by(_TEMPLATES.c.created_at, _TEMPLATES.c.id)
        if scope is not None:
            query = query.where(_TEMPLATES.c.owner == scope)
        async with self._read("list templates") as connection:
            return [_template(row) for row in (await connection.execute(query)).all()]

    async def get(self, template_id: str, *, scope: str | None) -> Template:
        """The template, or ``NotFound``."""
        query = select(_TEMPLATES).where(_TEMPLATES.c.id == template_id)
        async with self._read("read template") as connection:
            row = (await connection.execute(query)).first()
        if row is None or (scope is not None and row.owner != scope):
            raise NotFound(f"template {template_id!r} not found")
        return _template(row)

    async def create(self, template: Template, *, created_at: datetime | None = None) -> Template:
        """Store a new template as given (its id and owner are the caller's business),
        created now unless ``created_at`` says when (a built-in's copy keeps its date)."""
        now = self._now()
        values = _values(template) | {
            "id": template.id,
            "owner": template.owner,
            "created_at": created_at or now,
            "updated_at": now,
        }
        async with self._write("save template") as connection:
            await connection.execute(insert(_TEMPLATES).values(**values))
        return await self.get(template.id, scope=None)

    async def update(self, template: Template, *, scope: str | None) -> Template:
        """Replace the fields of an existing template; ``NotFound`` outside ``scope``."""
        query = update(_TEMPLATES).where(_TEMPLATES.c.id == template.id)
        if scope is not None:
            query = query.where(_TEMPLATES.c.owner == scope)
        async with self._write("update template") as connection:
            result = await connection.execute(
                query.values(**_values(template), updated_at=self._now())
            )
        if result.rowcount == 0:
            raise NotFound(f"template {template.id!r} not found")
        return await self.get(template.id, scope=None)


def _values(template: Template) -> dict[str, Any]:
    return {
        "name": template.name,
        "style_prompt": template.style_prompt,
        "cover_image": template.cover_image,
        "settings_json": json.dumps(dict(template.settings), ensure_ascii=False),
    }


def _template(row: Row[Any]) -> Template:
    return Template(
        id=row.id,
        name=row.name,
        style_prompt=row.style_prompt,
        created_at=row.created_at,
        updated_at=row.updated_at,
        cover_image=row.cover_image,
        settings=json.loads(row.settings_json),
        owner=row.owner,
    )
