"""The seed studio's answers are typed: the OpenAPI document gives every route's shape, the
wire keeps the seed's keys (nulls where the seed has nulls, absent where it has none), and
streamed lines are the message types of ``authoring.messages``."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import BaseModel, TypeAdapter

from slidebatch.api.app import create_app
from slidebatch.api.seed_schemas import (
    AppConfigOut,
    ConfigCheckOut,
    ConfigStatusOut,
    ConnectionTestOut,
    InsertSlideOut,
    MessageOut,
    OutlineOut,
    OutlineSlideOut,
    ProjectListItemOut,
    ProjectOut,
    SlideDataOut,
    StylePromptOut,
    TemplateListOut,
    TemplateSavedOut,
)
from slidebatch.authoring.messages import OutlineMessage, SlideFields, SlideText, StyleMessage
from slidebatch.config import load_settings
from slidebatch.core.slide import MAX_PAGE_NUM
from slidebatch.testing.fake_behaviour import FakeUpstreamConfig
from slidebatch.testing.fake_upstream import FakeUpstreamServer

STUDIO = ("/api/projects", "/api/template", "/api/outline", "/api/config")
# The one open part: the seed's frontend keeps its own display settings there.
OPEN_ON_PURPOSE = {"TemplateOut.vis_settings"}
KEY = "sk-or-v1-answer-models-0123456789"
DOCUMENT = "# Decks\n\n## Why\n- drift\n- one look\n\n## How\n- a gate\n\n## 结果\n- 更快\n"
SLIDE_KEYS = ["id", "page_num", "type", "title", "content_text", "visual_desc", "status"]
SAVED_SLIDE_KEYS = [*SLIDE_KEYS[:-1], "final_prompt", "image_url", "status"]
TEMPLATE_KEYS = [
    "id",
    "name",
    "style_prompt",
    "cover_image",
    "vis_settings",
    "aspect_ratios",
    "default_aspect_ratio",
    "custom_dimensions",
    "reference_images",
    "created_at",
]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = load_settings(
        data_dir=tmp_path / "data", log_dir=tmp_path / "logs", image_provider="local"
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _open_parts(
    spec: dict[str, Any], schema: dict[str, Any], where: str, seen: frozenset[str]
) -> set[str]:
    """Where ``schema`` lets any JSON in: ``{}``, a bare object, ``additionalProperties: true``."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        target = spec["components"]["schemas"][name]
        if _any_json(target):
            return {where}  # named where it is used (JsonValue is such a component)
        if name in seen:
            return set()
        return _open_parts(spec, target, name, seen | {name})
    if _any_json(schema):
        return {where}
    found: set[str] = set()
    bare = schema.get("type") == "object" and not {"properties", "additionalProperties"} & set(
        schema
    )
    if bare or schema.get("additionalProperties") is True:
        found.add(where)
    for name, sub in schema.get("properties", {}).items():
        found |= _open_parts(spec, sub, f"{where}.{name}", seen)
    for key in ("items", "additionalProperties", "contentSchema"):
        if isinstance(schema.get(key), dict):
            found |= _open_parts(spec, schema[key], where, seen)
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            found |= _open_parts(spec, sub, where, seen)
    return found


def _any_json(schema: dict[str, Any]) -> bool:
    return not set(schema) - {"title", "description", "default", "examples"}


def test_every_studio_route_documents_a_typed_answer(client: TestClient) -> None:
    """Each projects/template/outline/config route's 200 has a schema (streams: each line's),
    and nothing in it is untyped but the template's vis_settings."""
    spec = client.get("/openapi.json").json()
    operations = [
        (f"{method.upper()} {path}", op)
        for path, ops in spec["paths"].items()
        if path.startswith(STUDIO)
        for method, op in ops.items()
    ]
    assert len(operations) == 18
    found: set[str] = set()
    for name, op in operations:
        content = op["responses"]["200"].get("content", {})
        assert content, f"{name} documents no answer"
        for media, body in content.items():
            schema = body["schema"] if media == "application/json" else body["x-item-schema"]
            found |= _open_parts(spec, schema, name, frozenset())
    assert found == OPEN_ON_PURPOSE


def _same(model: type[BaseModel] | Any, answer: Any) -> None:
    adapter = TypeAdapter(model)
    assert adapter.dump_python(adapter.validate_python(answer), mode="json") == answer


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), "#1A365D").save(out, "PNG")
    return out.getvalue()


def test_projects_answer_their_models_with_the_seed_keys(client: TestClient) -> None:
    """A saved slide has every SlideData key (null when unset); list items and delete as typed."""
    slides = [{"page_num": 1, "title": "Cover", "type": "cover"}, {"page_num": 2, "title": "Two"}]
    body = {"id": "p1", "title": "Q3", "template_style_prompt": "calm", "slides": slides}
    saved = client.post("/api/projects/save", json=body).json()
    _same(ProjectOut, saved)
    assert [list(s) for s in saved["slides"]] == [SAVED_SLIDE_KEYS] * 2
    assert saved["slides"][1]["final_prompt"] is None
    assert saved["thumbnail_url"] is None
    _same(ProjectOut, client.get("/api/projects/p1").json())
    _same(list[ProjectListItemOut], client.get("/api/projects").json())
    deleted = client.delete("/api/projects/p1").json()
    _same(MessageOut, deleted)
    assert deleted == {"message": "Project deleted successfully"}


def test_templates_answer_their_models_with_the_seed_keys(client: TestClient) -> None:
    """List, save, update and analyze answer their models; vis_settings comes back as sent."""
    listed = client.get("/api/template").json()
    _same(TemplateListOut, listed)
    assert [list(t) for t in listed["templates"]] == [TEMPLATE_KEYS] * 3
    vis = {"primary_color": "#123456", "fonts": ["a", "b"], "grid": {"on": True, "gap": 1.5}}
    body = {"name": "Mine", "style_prompt": "blue", "vis_settings": vis}
    saved = client.post("/api/template/save", json=body).json()
    _same(TemplateSavedOut, saved)
    assert saved["template"]["vis_settings"] == vis
    assert saved["template"]["custom_dimensions"] is None
    updated = client.put(f"/api/template/{saved['template']['id']}", json=body).json()
    _same(TemplateSavedOut, updated)
    files = [("files", ("ref.png", _png(), "image/png"))]
    _same(StylePromptOut, client.post("/api/template/analyze", files=files).json())


def test_outlines_answer_slides_without_image_keys(client: TestClient) -> None:
    """An outline slide has an id and SlideFields, no final_prompt/image_url keys."""
    outline = client.post("/api/outline/generate", json={"text": DOCUMENT, "slide_count": 4})
    _same(OutlineOut, outline.json())
    assert [list(s) for s in outline.json()["slides"]] == [SLIDE_KEYS] * 4
    body = {"user_prompt": "a slide on cost", "insert_after_page_num": 2}
    inserted = client.post("/api/outline/insert-slide", json=body).json()
    _same(InsertSlideOut, inserted)
    assert list(inserted["slide"]) == SLIDE_KEYS
    assert set(OutlineSlideOut.__annotations__) == {"id", *SlideFields.__annotations__}


def test_config_routes_answer_their_models(client: TestClient) -> None:
    """The settings page's six calls answer typed shapes with the seed's keys."""
    shown = client.get("/api/config").json()
    _same(AppConfigOut, shown)
    assert list(shown) == list(AppConfigOut.model_fields)
    _same(AppConfigOut, client.post("/api/config", json={"llm_timeout_seconds": 60}).json())
    _same(AppConfigOut, client.post("/api/config/reset").json())
    _same(ConfigStatusOut, client.get("/api/config/status").json())
    bad = client.post("/api/config/validate", json={"llm_timeout_seconds": 0}).json()
    _same(ConfigCheckOut, bad)
    assert bad["valid"] is False
    tested = client.post("/api/config/test", json={}).json()
    _same(ConnectionTestOut, tested)
    assert tested["response_time"] is None


def _lines(text: str) -> list[dict[str, Any]]:
    chunks = [c for c in text.split("\n\n") if c]
    assert all(c.startswith("data: ") for c in chunks)
    return [json.loads(c.removeprefix("data: ")) for c in chunks]


def _streamed(client: TestClient) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    body = {"text": DOCUMENT, "slide_count": 4}
    outline = _lines(client.post("/api/outline/generate-stream", json=body).text)
    files = [("files", ("ref.png", _png(), "image/png"))]
    style = _lines(client.post("/api/template/analyze-stream", files=files).text)
    return outline, style


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstreamServer]:
    config = FakeUpstreamConfig(rpm=None, latency_median=0.0, latency_p95=0.0, expected_api_key=KEY)
    with FakeUpstreamServer(config) as server:
        yield server


@pytest.mark.parametrize("writer", ["offline", "model"])
def test_streamed_lines_are_the_message_types(
    tmp_path: Path, upstream: FakeUpstreamServer, writer: str
) -> None:
    """Every data: line of both streams is one of its message types, nothing more or less."""
    extra: dict[str, Any] = {"image_provider": "local"}
    if writer == "model":
        extra = {"image_provider": "openrouter", "llm_api_key": KEY}
        extra["llm_api_base"] = upstream.openrouter_base
    settings = load_settings(data_dir=tmp_path / "data", log_dir=tmp_path / "logs", **extra)
    with TestClient(create_app(settings)) as client:
        outline, style = _streamed(client)
    for message in outline:
        _same(OutlineMessage, message)
    for message in style:
        _same(StyleMessage, message)
    kinds = [m["type"] for m in outline]
    assert (kinds[0], kinds[-1], kinds.count("slide")) == ("start", "complete", 4)
    assert style[-1]["type"] == "complete"
    assert len(style[-1]["reference_images"]) == 1
    assert any(m["type"] == "chunk" and ("progress" in m) == (writer == "offline") for m in style)


@pytest.mark.parametrize("timeout", [4, 0.4, 3600])
def test_the_settings_page_can_save_back_what_it_reads(tmp_path: Path, timeout: float) -> None:
    """Any LLM_TIMEOUT_SECONDS the environment accepts is shown as a value POST /config takes."""
    settings = load_settings(
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        image_provider="local",
        llm_timeout_seconds=timeout,
    )
    with TestClient(create_app(settings)) as client:
        shown = client.get("/api/config").json()
        assert shown["llm_timeout_seconds"] == max(1, round(timeout))
        saved = client.post("/api/config", json=shown)
        assert saved.status_code == 200, saved.text
        assert saved.json() == shown
        checked = client.post("/api/config/validate", json=shown).json()
        assert not [e for e in checked["errors"] if "llm_timeout_seconds" in e]


def test_a_template_put_answers_as_the_seed_and_a_built_in_keeps_its_date(
    client: TestClient,
) -> None:
    """aspect_ratios [] comes back [] (as the seed answers); a PUT on a built-in keeps its
    created_at; a saved template without the field gets the default list."""
    builtin = client.get("/api/template").json()["templates"][0]
    body = {"name": "Mine", "style_prompt": "blue", "aspect_ratios": []}
    edited = client.put(f"/api/template/{builtin['id']}", json=body).json()["template"]
    assert edited["aspect_ratios"] == []
    assert edited["created_at"] == builtin["created_at"]
    again = client.put(f"/api/template/{builtin['id']}", json=body).json()["template"]
    assert again["created_at"] == builtin["created_at"]
    saved = client.post("/api/template/save", json={"name": "B", "style_prompt": "x"}).json()
    assert saved["template"]["aspect_ratios"] == ["16:9", "4:3", "1:1"]


def test_page_numbers_have_one_bound(client: TestClient) -> None:
    """insert_after_page_num 10**20 is refused like a saved page_num over MAX_PAGE_NUM; the
    last page a save accepts is the last one an insert can make."""
    for after in (10**20, MAX_PAGE_NUM):
        body = {"user_prompt": "One more slide", "insert_after_page_num": after}
        assert client.post("/api/outline/insert-slide", json=body).status_code == 422
    body = {"user_prompt": "One more slide", "insert_after_page_num": MAX_PAGE_NUM - 1}
    slide = client.post("/api/outline/insert-slide", json=body).json()["slide"]
    assert slide["page_num"] == MAX_PAGE_NUM
    project = {"id": "p", "title": "T", "template_style_prompt": "", "slides": [slide]}
    assert client.post("/api/projects/save", json=project).status_code == 200
    slide["page_num"] = MAX_PAGE_NUM + 1
    assert client.post("/api/projects/save", json=project).status_code == 422


def test_the_slide_fields_are_defined_once() -> None:
    """authoring.messages.SlideText's fields make the streamed, outlined and saved slide, in
    the seed's key order (id first)."""
    text = list(SlideText.__annotations__)
    assert list(SlideFields.__annotations__) == [*text, "status"]
    assert list(OutlineSlideOut.__annotations__) == ["id", *text, "status"] == SLIDE_KEYS
    assert list(SlideDataOut.__annotations__) == ["id", *text, *SAVED_SLIDE_KEYS[-3:]]
    assert list(SlideDataOut.__annotations__) == SAVED_SLIDE_KEYS
