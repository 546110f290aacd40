"""Every request shape the seed system's frontend and scripts send, against a real server.

Written from SPEC section 8 and the seed's public client code (``frontend/src/services/api.ts``,
its stores and pages): the same paths, bodies and reads of the answers. The server is a
``slidebatch serve`` subprocess in open mode whose image model is the OpenRouter-shaped fake
upstream, so a ``[[fake:content_policy]]`` marker in a visual description is a refusal.
"""

from __future__ import annotations

import io
import re
import uuid
import zipfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image
from tests.api.server_process import ServerProcess
from tests.image_bombs import many_scan_jpeg, tiff

from slidebatch.testing.fake_behaviour import FakeUpstreamConfig
from slidebatch.testing.fake_upstream import FakeUpstreamServer

pytestmark = pytest.mark.slow

UPSTREAM_KEY = "sk-or-v1-contract-test-key-0123456789abcdef"
REFUSAL = "[[fake:content_policy]]"
PEKING = "22133566-d215-4d60-a883-1e3dfb9c1508"  # a built-in template the frontend knows


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstreamServer]:
    config = FakeUpstreamConfig(
        rpm=None, latency_median=0.01, latency_p95=0.02, expected_api_key=UPSTREAM_KEY
    )
    with FakeUpstreamServer(config) as server:
        yield server


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstreamServer
) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("seed-contract")
    assets = root / "data" / "assets"
    assets.mkdir(parents=True)
    Image.new("RGB", (32, 18), (10, 20, 30)).save(assets / "slide_0123abcd.png")
    env = {
        "IMAGE_PROVIDER": "openrouter",
        "LLM_API_KEY": UPSTREAM_KEY,
        "LLM_API_BASE": upstream.openrouter_base,
        "RETRY_BASE_SECONDS": "0.01",
        "RETRY_MAX_SECONDS": "0.02",
    }
    process = ServerProcess(root, env).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{server.base_url}/api", timeout=60) as http:
        yield http


def _slides(count: int = 3, *, refuse: int | None = None) -> list[dict[str, Any]]:
    """Slides as the workspace sends them to batch generate (ids from generateId())."""
    slides = []
    for i in range(1, count + 1):
        kind = "cover" if i == 1 else "ending" if i == count else "content"
        visual = "蓝色背景，居中标题" + (f" {REFUSAL}" if i == refuse else "")
        slides.append(
            {
                "id": str(uuid.uuid4()),
                "page_num": i,
                "type": kind,
                "title": f"第 {i} 页",
                "content_text": f"要点 {i}",
                "visual_desc": visual,
            }
        )
    return slides


def _batch(api: httpx.Client, slides: list[dict[str, Any]]) -> dict[str, Any]:
    answer = api.post(
        "/slide/batch/generate",
        json={
            "slides": slides,
            "style_prompt": "北大红搭配黑白配色",
            "max_workers": len(slides),
            "aspect_ratio": "16:9",
        },
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def _png(colour: tuple[int, int, int], size: tuple[int, int] = (160, 90)) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", size, colour)
    image.paste((250, 250, 250), (0, 0, size[0] // 4, size[1]))
    image.save(out, format="PNG")
    return out.getvalue()


# ------------------------------------------------------------------ slides and batches


def test_batch_generate_answers_what_the_workspace_reads(api: httpx.Client) -> None:
    """The workspace's batch body works; every result has a number for generation_time."""
    slides = _slides(4, refuse=3)
    result = _batch(api, slides)
    assert (result["total_slides"], result["successful"], result["failed"]) == (4, 3, 1)
    assert isinstance(result["total_time"], float)
    by_id = {r["slide_id"]: r for r in result["results"]}
    assert set(by_id) == {s["id"] for s in slides}
    for item in result["results"]:
        assert isinstance(item["generation_time"], float)  # the seed's script sums these
        assert {"page_num", "title", "image_url", "final_prompt", "error_message"} <= set(item)
    refused = by_id[slides[2]["id"]]
    assert refused["status"] == "error"
    assert refused["image_url"] is None
    assert refused["error_message"]
    done = by_id[slides[0]["id"]]
    assert done["status"] == "done"
    assert api.get(done["image_url"].removeprefix("/api")).status_code == 200


def test_status_takes_a_dashed_uuid_and_lists_finished_slides(api: httpx.Client) -> None:
    """POST /slide/batch/status accepts the id as a UUID; results are finished slides only."""
    result = _batch(api, _slides(2))
    dashed = str(uuid.UUID(result["batch_id"]))
    status = api.post("/slide/batch/status", json={"batch_id": dashed})
    assert status.status_code == 200, status.text
    body = status.json()
    assert body["batch_id"] == result["batch_id"]
    assert body["status"] == "completed"
    assert [r["status"] for r in body["results"]] == ["done", "done"]
    assert api.get(f"/slide/batch/{dashed}").status_code == 200
    assert api.post("/slide/batch/status", json={"batch_id": str(uuid.uuid4())}).status_code == 404
    assert api.get(f"/slide/batch/{dashed}/export.zip").status_code == 200
    image = body["results"][0]["image_url"].removeprefix("/api")
    assert api.get(image.replace(result["batch_id"], dashed)).status_code == 200


def test_status_of_a_running_batch_omits_unfinished_slides(api: httpx.Client) -> None:
    """While a slide still runs, the seed's status lists only the finished ones."""
    slides = _slides(2)
    slides[1]["visual_desc"] += " [[fake:hang]]"
    accepted = api.post(
        "/slide/batch/generate", params={"wait": "false"}, json={"slides": slides}
    ).json()
    batch_id = accepted["batch_id"]
    try:
        body: dict[str, Any] = {}
        for _ in range(400):  # until the first slide is done (the second hangs upstream)
            body = api.post("/slide/batch/status", json={"batch_id": batch_id}).json()
            if body["successful"] == 1:
                break
        assert body["status"] == "running"
        assert [r["slide_id"] for r in body["results"]] == [slides[0]["id"]]
        everything = api.get(f"/slide/batch/{batch_id}").json()["results"]
        assert len(everything) == 2  # our own endpoint keeps the richer answer
    finally:
        api.post(f"/slide/batch/{batch_id}/cancel")


def test_single_generate_answers_the_image(api: httpx.Client) -> None:
    """POST /slide/generate with the workspace's body: 200, image_url, final_prompt, done."""
    answer = api.post(
        "/slide/generate",
        json={
            "aspect_ratio": "16:9",
            "style_prompt": "深空蓝背景搭配霓虹线条",
            "visual_desc": "一张模板封面预览图",
            "page_num": 1,
            "title": "深空科技蓝",
            "content_text": "模板预览",
        },
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "done"
    assert body["final_prompt"]
    assert isinstance(body["generation_time"], float)
    assert api.get(body["image_url"].removeprefix("/api")).status_code == 200


@pytest.mark.parametrize("path", ["/slide/generate", "/slide/regenerate"])
def test_a_refused_single_slide_is_an_http_error(api: httpx.Client, path: str) -> None:
    """A refusal is an HTTP error status (the frontend reads any 2xx as a new image)."""
    answer = api.post(
        path,
        json={"style_prompt": "x", "visual_desc": f"画面 {REFUSAL}", "title": "被拒绝的一页"},
    )
    assert answer.status_code == 502, answer.text
    body = answer.json()
    assert body["status"] == "error"
    assert "failed" in body["detail"]


def test_unknown_slide_fields_are_named_in_a_422(api: httpx.Client) -> None:
    """Misspelled slide fields are refused before anything is paid for, each one named."""
    slide = {"id": "a", "title": "T", "content": "typo", "visual_description": "typo"}
    answer = api.post("/slide/batch/generate", json={"slides": [slide]})
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert "'content'" in detail
    assert "'visual_description'" in detail
    # The seed's own SlideData fields are accepted (a saved slide sent back as it is).
    kept = {"id": "a", "title": "T", "final_prompt": None, "image_url": None, "status": "done"}
    assert api.post("/slide/batch/generate", json={"slides": [kept]}).status_code == 200


# ------------------------------------------------------------------ export and assets


def test_export_pptx_names_the_file_once(api: httpx.Client) -> None:
    """file_name 'X.pptx' downloads as X.pptx (not X.pptx.pptx), with every slide."""
    result = _batch(api, _slides(3))
    slides = [
        s | {"image_url": r["image_url"], "status": r["status"]}
        for s, r in zip(_slides(3), result["results"], strict=True)
    ]
    project = {
        "template_id": PEKING,
        "template_style_prompt": "北大红",
        "title": "季度报告",
        "aspect_ratio": "16:9",
        "slides": slides,
    }
    answer = api.post("/export/pptx", json={"project": project, "file_name": "季度报告.pptx"})
    assert answer.status_code == 200, answer.text
    disposition = answer.headers["content-disposition"]
    assert "pptx.pptx" not in disposition
    assert "%E5%AD%A3%E5%BA%A6%E6%8A%A5%E5%91%8A.pptx" in disposition
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        pages = [n for n in archive.namelist() if re.match(r"ppt/slides/slide\d+\.xml$", n)]
    assert len(pages) == 3


def test_export_of_an_empty_project_is_an_empty_deck(api: httpx.Client) -> None:
    """slides: [] answers a presentation without slides, as the seed did."""
    answer = api.post("/export/pptx", json={"project": {"slides": []}})
    assert answer.status_code == 200, answer.text
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        assert not [n for n in archive.namelist() if re.match(r"ppt/slides/slide\d+\.xml$", n)]


def test_assets_saved_by_the_seed_are_served(server: ServerProcess) -> None:
    """/assets/<file> serves SEED_ASSETS_DIR; anything outside it is a 404."""
    with httpx.Client(base_url=server.base_url) as http:
        found = http.get("/assets/slide_0123abcd.png")
        assert found.status_code == 200
        assert found.headers["content-type"] == "image/png"
        assert http.get("/assets/missing.png").status_code == 404
        assert http.get("/assets/..%2F..%2Fslidebatch.db").status_code == 404


# ------------------------------------------------------------------ projects


def _project(slides: list[dict[str, Any]], project_id: str | None = None) -> dict[str, Any]:
    """The body saveCurrentProject() sends."""
    return {
        "id": project_id or str(uuid.uuid4()),
        "title": "季度报告",
        "created_at": "2026-11-30T01:00:00.000Z",
        "updated_at": "2026-11-30T01:00:00.000Z",
        "template_style_prompt": "北大红搭配黑白配色",
        "slides": slides,
        "thumbnail_url": slides[0].get("image_url") if slides else None,
    }


def test_projects_save_list_get_delete(api: httpx.Client) -> None:
    """The project list round trip: save, list with thumbnail, get, save again, delete."""
    slides = _slides(3)
    result = _batch(api, slides)
    saved_slides = [
        s | {"image_url": r["image_url"], "final_prompt": r["final_prompt"], "status": "done"}
        for s, r in zip(slides, result["results"], strict=True)
    ]
    body = _project(saved_slides)
    saved = api.post("/projects/save", json=body)
    assert saved.status_code == 200, saved.text
    assert saved.json()["slides"] == saved_slides
    listed = {p["id"]: p for p in api.get("/projects").json()}
    assert listed[body["id"]]["title"] == "季度报告"
    assert listed[body["id"]]["thumbnail_url"] == saved_slides[0]["image_url"]
    got = api.get(f"/projects/{body['id']}").json()
    assert set(got) >= {"id", "title", "created_at", "updated_at", "template_style_prompt"}
    assert [s["image_url"] for s in got["slides"]] == [s["image_url"] for s in saved_slides]

    again = api.post("/projects/save", json=body | {"title": "季度报告 v2"}).json()
    assert again["created_at"] == got["created_at"]
    assert again["title"] == "季度报告 v2"

    deleted = api.delete(f"/projects/{body['id']}")
    assert deleted.status_code == 200
    assert deleted.json() == {"message": "Project deleted successfully"}
    assert api.get(f"/projects/{body['id']}").status_code == 404
    assert api.delete(f"/projects/{body['id']}").status_code == 404


def test_a_project_shows_slides_regenerated_in_its_batch(api: httpx.Client) -> None:
    """Project and batch are linked: a slide shows its batch's current image, not a stale one."""
    slides = _slides(2)
    result = _batch(api, slides)
    saved_slides = [
        s | {"image_url": r["image_url"], "status": "done"}
        for s, r in zip(slides, result["results"], strict=True)
    ]
    # The client saved before the redraw finished: its URL for slide 2 is the old one.
    current = saved_slides[1]["image_url"]
    saved_slides[1]["image_url"] = current.rsplit("/", 1)[0] + "/p002-k1-000000000000.png"
    body = _project(saved_slides)
    api.post("/projects/save", json=body).raise_for_status()
    got = api.get(f"/projects/{body['id']}").json()
    assert got["slides"][1]["image_url"] == current
    assert got["slides"][1]["status"] == "done"
    assert got["slides"][0]["image_url"] == saved_slides[0]["image_url"]


def test_project_bodies_are_checked(api: httpx.Client) -> None:
    """A project slide with a field outside SlideData, or without page_num, is a 422."""
    bad = _project([{"id": "a", "page_num": 1, "title": "T", "notes": "x"}])
    answer = api.post("/projects/save", json=bad)
    assert answer.status_code == 422
    assert "'notes'" in answer.json()["detail"]
    assert api.post("/projects/save", json=_project([{"title": "T"}])).status_code == 422
    assert api.get("/projects/no-such-project").status_code == 404


# ------------------------------------------------------------------ templates


def test_templates_list_the_built_ins_with_placeholder_covers(api: httpx.Client) -> None:
    """GET /template answers {templates: [...]} with the seed's fields; covers are drawn."""
    templates = api.get("/template").json()["templates"]
    peking = next(t for t in templates if t["id"] == PEKING)
    assert set(peking) >= {
        "id",
        "name",
        "style_prompt",
        "cover_image",
        "vis_settings",
        "aspect_ratios",
        "default_aspect_ratio",
        "created_at",
    }
    cover = api.get(peking["cover_image"].removeprefix("/api"))
    assert cover.status_code == 200
    image = Image.open(io.BytesIO(cover.content))
    assert image.size == (400, 300)
    assert image.convert("RGB").getpixel((2, 2)) == (0x8B, 0x00, 0x12)


def test_placeholder_rejects_bad_colours_and_sizes(api: httpx.Client) -> None:
    """A colour that is not hex or a side over 2000 pixels is a 422, not a 500."""
    assert api.get("/placeholder/400/300/red/FFFFFF").status_code == 422
    assert api.get("/placeholder/5000/300/000000/FFFFFF").status_code == 422


def test_templates_save_and_update_with_a_data_url_cover(
    api: httpx.Client, server: ServerProcess
) -> None:
    """TemplateCreate's save (cover as data: URL) stores the cover under /assets/templates."""
    import base64

    cover = "data:image/png;base64," + base64.b64encode(_png((20, 40, 160))).decode()
    payload = {
        "name": "蓝色模板",
        "style_prompt": "背景 #1428A0",
        "cover_image": cover,
        "vis_settings": {"primary_color": "#8B0012"},
        "aspect_ratios": ["16:9", "4:3", "1:1"],
        "default_aspect_ratio": "16:9",
    }
    saved = api.post("/template/save", json=payload)
    assert saved.status_code == 200, saved.text
    template = saved.json()["template"]
    assert uuid.UUID(template["id"])
    assert template["cover_image"].startswith("/assets/templates/")
    assert httpx.get(server.base_url + template["cover_image"]).status_code == 200

    updated = api.put(f"/template/{template['id']}", json=payload | {"name": "改名"})
    assert updated.status_code == 200
    assert updated.json()["template"]["name"] == "改名"
    names = [t["name"] for t in api.get("/template").json()["templates"]]
    assert "改名" in names

    preview = payload | {"cover_image": "/api/images/abc/def.png"}
    assert api.put(f"/template/{PEKING}", json=preview).status_code == 200  # a built-in
    listed = {t["id"]: t for t in api.get("/template").json()["templates"]}
    assert listed[PEKING]["cover_image"] == "/api/images/abc/def.png"
    assert api.put(f"/template/{uuid.uuid4()}", json=payload).status_code == 404
    not_image = payload | {"cover_image": "data:image/png;base64,aGVsbG8="}
    assert api.post("/template/save", json=not_image).status_code == 422


def test_template_analyze_reads_the_palette(api: httpx.Client) -> None:
    """POST /template/analyze (multipart 'files') answers a style prompt naming the colours."""
    files = [("files", ("ref.png", _png((200, 30, 40)), "image/png"))]
    answer = api.post("/template/analyze", files=files)
    assert answer.status_code == 200, answer.text
    prompt = answer.json()["style_prompt"]
    assert "#C81E28" in prompt
    assert "背景" in prompt


def test_template_analyze_stream_speaks_the_seed_s_messages(api: httpx.Client) -> None:
    """The stream is data: lines: start, progress..., chunk_start, chunk..., complete."""
    files = [("files", ("a.png", _png((10, 10, 10)), "image/png"))]
    answer = api.post("/template/analyze-stream", files=files)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    messages = _messages(answer.text)
    kinds = [m["type"] for m in messages]
    assert kinds[0] == "start"
    assert messages[0]["file_count"] == 1
    assert "chunk_start" in kinds
    assert kinds[-1] == "complete"
    chunks = "\n".join(m["content"] for m in messages if m["type"] == "chunk")
    assert chunks == messages[-1]["style_prompt"]


@pytest.mark.parametrize("path", ["/template/analyze", "/template/analyze-stream"])
def test_template_analyze_refuses_bad_uploads(api: httpx.Client, path: str) -> None:
    """Not an image: 422; over 10 MB: 413; no file: 422; all before any stream starts."""
    text = [("files", ("notes.txt", b"not an image", "text/plain"))]
    assert api.post(path, files=text).status_code == 422
    huge = [("files", ("big.png", b"\x89PNG" + b"0" * (11 * 1024 * 1024), "image/png"))]
    assert api.post(path, files=huge).status_code == 413
    assert api.post(path).status_code == 422
    for name, data in (("scans.jpg", many_scan_jpeg(200)), ("scan.tiff", tiff())):
        costly = api.post(path, files=[("files", (name, data, "image/jpeg"))])
        assert costly.status_code == 422, costly.text
        assert "not decoded" in costly.text or "not an image (PNG, JPEG" in costly.text


# ------------------------------------------------------------------ outline


def _messages(text: str) -> list[dict[str, Any]]:
    import json

    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


DOCUMENT = """# 季度报告

## 业绩
- 收入增长 20%
- 利润翻倍

## 挑战
供应链紧张。人员流动较大。

## 计划
1. 扩张华南
2. 上线新产品
"""


def test_outline_generate_answers_slide_count_slides(api: httpx.Client) -> None:
    """POST /outline/generate: {slides: SlideData[]}, cover first, ending last."""
    answer = api.post(
        "/outline/generate", json={"text": DOCUMENT, "slide_count": 5, "template_id": PEKING}
    )
    assert answer.status_code == 200, answer.text
    slides = answer.json()["slides"]
    assert [s["page_num"] for s in slides] == [1, 2, 3, 4, 5]
    assert [s["type"] for s in slides] == ["cover", "content", "content", "content", "ending"]
    assert slides[0]["title"] == "季度报告"
    assert [s["title"] for s in slides[1:4]] == ["业绩", "挑战", "计划"]
    assert all(s["status"] == "pending" and uuid.UUID(s["id"]) for s in slides)


def test_outline_stream_speaks_the_seed_s_messages(api: httpx.Client) -> None:
    """generate-stream: start, progress..., one 'slide' per slide, complete."""
    answer = api.post(
        "/outline/generate-stream",
        json={"text": "【原始文档】\n" + DOCUMENT, "slide_count": 4, "template_id": PEKING},
    )
    assert answer.status_code == 200
    messages = _messages(answer.text)
    assert messages[0] == {"type": "start", "message": "开始生成大纲...", "slide_count": 4}
    slides = [m for m in messages if m["type"] == "slide"]
    assert len(slides) == 4
    assert slides[0]["slide"]["type"] == "cover"
    assert set(slides[1]["slide"]) == {
        "page_num",
        "type",
        "title",
        "content_text",
        "visual_desc",
        "status",
    }
    assert (slides[-1]["current_slide"], slides[-1]["total_slides"]) == (4, 4)
    assert messages[-1]["type"] == "complete"


def test_outline_bad_requests(api: httpx.Client) -> None:
    """slide_count outside 1..40 is a 422; an unknown template a 404 (stream too)."""
    assert api.post("/outline/generate", json={"text": "x", "slide_count": 41}).status_code == 422
    unknown = {"text": "x", "slide_count": 3, "template_id": str(uuid.uuid4())}
    assert api.post("/outline/generate", json=unknown).status_code == 404
    assert api.post("/outline/generate-stream", json=unknown).status_code == 404


def test_insert_slide_answers_one_slide(api: httpx.Client) -> None:
    """POST /outline/insert-slide with the workspace's body answers {slide} after the page."""
    context = {"type": "content", "content_text": "", "visual_desc": ""}
    answer = api.post(
        "/outline/insert-slide",
        json={
            "user_prompt": "客户案例：交付周期缩短 30%。三个月完成上线。",
            "insert_after_page_num": 2,
            "template_name": "北大典雅学术版",
            "style_prompt": "北大红",
            "prev_slide": context | {"page_num": 2, "title": "业绩"},
            "next_slide": context | {"page_num": 3, "title": "挑战"},
        },
    )
    assert answer.status_code == 200, answer.text
    slide = answer.json()["slide"]
    assert slide["page_num"] == 3
    assert slide["type"] == "content"
    assert slide["title"].startswith("客户案例")
    assert slide["visual_desc"]
    empty = {"user_prompt": "", "insert_after_page_num": 1}
    assert api.post("/outline/insert-slide", json=empty).status_code == 422


# ------------------------------------------------------------------ settings page


def test_config_masks_the_key_and_keeps_it_when_sent_back(api: httpx.Client) -> None:
    """GET /config never shows the key; POST with the masked key keeps it; reset forgets."""
    config = api.get("/config").json()
    assert UPSTREAM_KEY not in str(config)
    assert config["llm_api_key"].startswith("****")
    assert config["llm_api_key"].endswith(UPSTREAM_KEY[-4:])
    assert api.get("/config/").status_code == 200  # the seed's own path, trailing slash
    saved = api.post("/config", json=config | {"llm_chat_model": "test/model"})
    assert saved.status_code == 200, saved.text
    assert saved.json()["llm_chat_model"] == "test/model"
    assert saved.json()["llm_api_key"] == config["llm_api_key"]
    assert api.post("/config", json={"llm_timeout_seconds": 0}).status_code == 422
    reset = api.post("/config/reset").json()
    assert reset["llm_chat_model"] != "test/model"


def test_config_test_calls_the_configured_upstream(
    api: httpx.Client, upstream: FakeUpstreamServer
) -> None:
    """The connection test reaches the fake upstream with the stored key (sent back masked)."""
    masked = api.get("/config").json()
    answer = api.post(
        "/config/test",
        json={
            "api_key": masked["llm_api_key"],
            "api_base": masked["llm_api_base"],
            "model": masked["llm_chat_model"],
            "timeout_seconds": 30,
        },
    ).json()
    assert answer["success"] is True, answer
    assert isinstance(answer["response_time"], float)
    wrong = api.post(
        "/config/test",
        json={"api_key": "sk-wrong", "api_base": upstream.openrouter_base, "model": "m"},
    ).json()
    assert wrong["success"] is False
    assert "401" in wrong["message"]


def test_config_status_and_validate(api: httpx.Client) -> None:
    """status says configured and valid; validate names what is wrong without saving."""
    status = api.get("/config/status").json()
    assert (status["has_api_key"], status["is_valid"]) == (True, True)
    assert api.post("/config/validate", json={"llm_api_base": "ftp://x"}).json() == {
        "valid": False,
        "errors": ["llm_api_base must start with http:// or https://"],
    }
    assert api.post("/config/validate", json={"llm_timeout_seconds": 60}).json()["valid"] is True


def test_the_seed_s_tuning_calls_still_answer(api: httpx.Client) -> None:
    """active-count, config/validate and config/optimal as the seed's guide calls them."""
    assert "active_batches" in api.get("/slide/batch/active-count").json()
    assert "valid" in api.get("/slide/batch/config/validate").json()
    optimal = api.post("/slide/batch/config/optimal", json={"slides_count": 20}).json()
    assert optimal["slides_count"] == 20


# ------------------------------------------------------------------ keys and ownership


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A server with keys: an admin, and two users."""
    import asyncio

    from slidebatch.core.access import Role
    from slidebatch.storage.database import Database
    from slidebatch.storage.keys import KeyRepository

    root = tmp_path_factory.mktemp("seed-keys")

    async def make() -> dict[str, str]:
        database = await Database.open(f"sqlite+aiosqlite:///{root / 'data' / 'slidebatch.db'}")
        try:
            keys = KeyRepository.on(database)
            return {
                "admin": (await keys.create(name="admin", role=Role.ADMIN))[1],
                "alice": (await keys.create(name="alice"))[1],
                "bob": (await keys.create(name="bob"))[1],
            }
        finally:
            await database.close()

    secrets = asyncio.run(make())
    process = ServerProcess(root).start()
    yield f"{process.base_url}/api", secrets
    process.stop()


def test_projects_and_templates_belong_to_their_key(keyed: tuple[str, dict[str, str]]) -> None:
    """Bob neither lists nor reads, overwrites or deletes Alice's project or template; saving
    under her project's id is 409 (the id is taken), not a 404 on a create."""
    base, keys = keyed
    alice = httpx.Client(base_url=base, headers={"X-API-Key": keys["alice"]})
    bob = httpx.Client(base_url=base, headers={"X-API-Key": keys["bob"]})
    with alice, bob:
        body = _project([{"id": "s", "page_num": 1, "title": "T"}])
        assert alice.post("/projects/save", json=body).status_code == 200
        assert [p["id"] for p in bob.get("/projects").json()] == []
        assert bob.get(f"/projects/{body['id']}").status_code == 404
        taken = bob.post("/projects/save", json=body)
        assert taken.status_code == 409
        assert "taken" in taken.json()["detail"]
        assert bob.delete(f"/projects/{body['id']}").status_code == 404
        template = {"name": "A", "style_prompt": "x"}
        saved = alice.post("/template/save", json=template).json()["template"]
        assert saved["id"] not in [t["id"] for t in bob.get("/template").json()["templates"]]
        assert bob.put(f"/template/{saved['id']}", json=template).status_code == 404
        assert httpx.get(f"{base}/projects").status_code == 401


def test_config_is_for_admin_keys_only(keyed: tuple[str, dict[str, str]]) -> None:
    """A user key gets 403 from every settings endpoint; an admin key gets the page."""
    base, keys = keyed
    user = {"X-API-Key": keys["alice"]}
    for method, path in [
        ("GET", "/config"),
        ("POST", "/config"),
        ("POST", "/config/reset"),
        ("POST", "/config/test"),
        ("GET", "/config/status"),
        ("POST", "/config/validate"),
    ]:
        answer = httpx.request(method, f"{base}{path}", headers=user, json={})
        assert answer.status_code == 403, (path, answer.text)
    admin = httpx.get(f"{base}/config", headers={"X-API-Key": keys["admin"]})
    assert admin.status_code == 200


def test_export_takes_the_seed_frontends_whole_slide_and_nothing_else(api: httpx.Client) -> None:
    """Every SlideData field the seed's store holds exports; an unknown field is a 422 naming it."""
    result = _batch(api, _slides(2))
    slides = [
        s | {"image_url": r["image_url"], "status": r["status"], "final_prompt": r["final_prompt"]}
        for s, r in zip(_slides(2), result["results"], strict=True)
    ]
    project = {
        "template_id": PEKING,
        "template_style_prompt": "北大红",
        "title": "季度报告",
        "aspect_ratio": "16:9",
        "slides": slides,
    }
    ok = api.post("/export/pptx", json={"project": project, "file_name": "x.pptx"})
    assert ok.status_code == 200, ok.text
    typo = project | {"slides": [slides[0] | {"content": "typo of content_text"}]}
    refused = api.post("/export/pptx", json={"project": typo})
    assert refused.status_code == 422
    assert "'content'" in refused.json()["detail"]
    stray = api.post("/export/pptx", json={"project": project | {"theme": "dark"}})
    assert stray.status_code == 422
    assert "theme" in stray.json()["detail"]
