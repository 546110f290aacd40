"""ProjectRepository, TemplateRepository and AppConfigRepository on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from storage_helpers import deck

from slidebatch.core.project import Project, Template
from slidebatch.core.states import BatchState
from slidebatch.errors import Conflict, NotFound
from slidebatch.storage.app_config import AppConfigRepository
from slidebatch.storage.database import Database
from slidebatch.storage.projects import ProjectRepository
from slidebatch.storage.templates import TemplateRepository

AT = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)


async def _batch(db: Database, owner: str | None = None) -> str:
    request = deck(2)
    record, _ = await db.batches.create_batch(
        request=request,
        final_prompts=["p"] * len(request.slides),
        effective_workers=2,
        owner=owner,
        idempotency_key=None,
    )
    return record.id


def _project(project_id: str = "p1", *, owner: str | None = None, **changes: object) -> Project:
    slides = ({"id": "s1", "page_num": 1, "type": "cover", "title": "封面"},)
    project = Project(project_id, "报告", "红色", slides, AT, AT, owner=owner)
    return replace(project, **changes)  # type: ignore[arg-type]


async def test_save_get_list_delete(db: Database) -> None:
    """A project round-trips; saving again keeps created_at and moves updated_at."""
    repo = ProjectRepository.on(db)
    first = await repo.save(_project(), scope=None, batch_ids=[])
    assert (first.title, first.slides[0]["title"]) == ("报告", "封面")
    second = await repo.save(_project(title="报告 v2"), scope=None, batch_ids=[])
    assert second.created_at == first.created_at
    assert second.updated_at >= first.updated_at
    assert [p.title for p in await repo.summaries(scope=None)] == ["报告 v2"]
    await repo.delete("p1", scope=None)
    with pytest.raises(NotFound):
        await repo.get("p1", scope=None)
    with pytest.raises(NotFound):
        await repo.delete("p1", scope=None)


async def test_projects_are_owned_like_batches(db: Database) -> None:
    """Another key neither sees, overwrites nor deletes a project (its id is taken: Conflict);
    admins (scope None) do."""
    repo = ProjectRepository.on(db)
    await repo.save(_project(owner="alice"), scope="alice", batch_ids=[])
    assert await repo.summaries(scope="bob") == []
    with pytest.raises(NotFound):
        await repo.get("p1", scope="bob")
    with pytest.raises(Conflict, match="'p1' is taken"):
        await repo.save(_project(owner="bob"), scope="bob", batch_ids=[])
    with pytest.raises(NotFound):
        await repo.delete("p1", scope="bob")
    assert (await repo.get("p1", scope=None)).owner == "alice"


async def test_links_go_both_ways_and_keep_batches_from_cleanup(db: Database) -> None:
    """Saved links name the batches (only the caller's); a linked batch is not cleaned up."""
    repo = ProjectRepository.on(db)
    mine, theirs, loose = await _batch(db, "alice"), await _batch(db, "bob"), await _batch(db)
    await repo.save(_project(owner="alice"), scope="alice", batch_ids=[mine, theirs, "f" * 32])
    assert await repo.batches_of("p1") == [mine]
    assert await repo.projects_of(mine) == ["p1"]
    for batch_id in (mine, loose):
        await db.batches.set_batch_state(batch_id, BatchState.COMPLETED, at=AT)
    due = await db.batches.batches_finished_before(AT + timedelta(days=2))
    assert due == [loose]
    await repo.delete("p1", scope="alice")
    assert await repo.projects_of(mine) == []
    assert sorted(await db.batches.batches_finished_before(AT + timedelta(days=2))) == sorted(
        [mine, loose]
    )


async def test_deleting_a_batch_drops_its_links(db: Database) -> None:
    """A batch deleted by its owner leaves the project, without the link."""
    repo = ProjectRepository.on(db)
    batch_id = await _batch(db)
    await repo.save(_project(), scope=None, batch_ids=[batch_id])
    await db.batches.delete_batch(batch_id)
    assert await repo.batches_of("p1") == []
    assert (await repo.get("p1", scope=None)).id == "p1"


async def test_templates_create_update_scope(db: Database) -> None:
    """Templates list oldest first per owner; updating outside the scope is NotFound."""
    repo = TemplateRepository.on(db)
    template = Template("t1", "蓝", "blue", AT, AT, settings={"aspect_ratios": ["16:9"]})
    created = await repo.create(replace(template, owner="alice"))
    assert created.settings == {"aspect_ratios": ["16:9"]}
    await repo.create(replace(template, id="t2", name="红", owner="bob"))
    assert [t.id for t in await repo.all(scope=None)] == ["t1", "t2"]
    assert [t.id for t in await repo.all(scope="bob")] == ["t2"]
    with pytest.raises(NotFound):
        await repo.update(replace(template, name="x"), scope="bob")
    updated = await repo.update(replace(template, name="深蓝"), scope="alice")
    assert (updated.name, updated.owner) == ("深蓝", "alice")


async def test_app_config_store_and_clear(db: Database) -> None:
    """Saved values merge by name; clear forgets them all."""
    repo = AppConfigRepository.on(db)
    await repo.store({"llm_chat_model": "a", "allowed_origins": ["x"]})
    await repo.store({"llm_chat_model": "b"})
    assert await repo.load() == {"llm_chat_model": "b", "allowed_origins": ["x"]}
    await repo.clear()
    assert await repo.load() == {}
