"""Templates carry reference images: kept from the analysis, sent with every slide of a batch
made from the template (anchor mode adds the cover's bytes), through the fake upstream."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from slidebatch.api.app import create_app
from slidebatch.config import load_settings
from slidebatch.testing.fake_behaviour import FakeUpstreamConfig
from slidebatch.testing.fake_shapes import image_digest
from slidebatch.testing.fake_upstream import FakeUpstreamServer

KEY = "sk-or-v1-template-refs-0123456789"


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstreamServer]:
    config = FakeUpstreamConfig(rpm=None, latency_median=0.0, latency_p95=0.0, expected_api_key=KEY)
    with FakeUpstreamServer(config) as server:
        yield server


@pytest.fixture
def client(tmp_path: Path, upstream: FakeUpstreamServer) -> Iterator[TestClient]:
    """A server whose image (and chat) model is OpenRouter at the fake upstream."""
    settings = load_settings(
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        image_provider="openrouter",
        llm_api_key=KEY,
        llm_api_base=upstream.openrouter_base,
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _png(colour: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (48, 27), colour).save(out, "PNG")
    return out.getvalue()


def _data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def _deck(n: int, **extra: Any) -> dict[str, Any]:
    slides = [{"id": f"s{i}", "title": f"Slide {i}"} for i in range(1, n + 1)]
    return {"slides": slides} | extra


def _inputs(upstream: FakeUpstreamServer) -> list[list[str]]:
    """Each request's input images (digests), in arrival order (since the last reset)."""
    return [list(r["input_images"]) for r in upstream.stats()["requests"]]


def _saved_from_analysis(client: TestClient, reference: bytes) -> dict[str, Any]:
    analysed = client.post(
        "/api/template/analyze", files=[("files", ("look.png", reference, "image/png"))]
    )
    assert analysed.status_code == 200, analysed.text
    body = analysed.json()
    assert len(body["reference_images"]) == 1
    saved = client.post(
        "/api/template/save",
        json={
            "name": "Teal look",
            "style_prompt": body["style_prompt"],
            "reference_images": body["reference_images"],
        },
    )
    assert saved.status_code == 200, saved.text
    return dict(saved.json()["template"])


def test_a_template_saved_from_an_analysis_keeps_its_reference(
    client: TestClient, upstream: FakeUpstreamServer
) -> None:
    """analyze -> save: the template lists the image; every slide of its batch carries it."""
    reference = _png("#208080")
    template = _saved_from_analysis(client, reference)
    assert template["reference_images"][0].startswith("/assets/templates/ref-")
    listed = {t["id"]: t for t in client.get("/api/template").json()["templates"]}
    assert listed[template["id"]]["reference_images"] == template["reference_images"]
    served = client.get(template["reference_images"][0])
    assert served.content == reference

    upstream.reset_stats()
    done = client.post("/api/slide/batch/generate", json=_deck(4, template_id=template["id"]))
    assert done.status_code == 200, done.text
    assert done.json()["successful"] == 4
    assert _inputs(upstream) == [[image_digest(reference)]] * 4
    # The template's style prompt stood in for the empty one.
    assert all(template["style_prompt"][:20] in r["final_prompt"] for r in done.json()["results"])


def test_anchor_mode_from_a_template_adds_the_cover(
    client: TestClient, upstream: FakeUpstreamServer
) -> None:
    """Anchor mode: the cover carries the reference; the rest carry it and the cover's bytes."""
    reference = _png("#802020")
    template = _saved_from_analysis(client, reference)
    upstream.reset_stats()
    body = _deck(3, template_id=template["id"], anchor=True, style_prompt="red")
    done = client.post("/api/slide/batch/generate", json=body).json()
    cover = next(r for r in done["results"] if r["page_num"] == 1)
    cover_bytes = client.get(cover["image_url"]).content
    inputs = _inputs(upstream)
    assert inputs[0] == [image_digest(reference)]
    assert inputs[1:] == [[image_digest(reference), image_digest(cover_bytes)]] * 2


def test_the_seed_frontend_s_uploaded_cover_is_the_reference(
    client: TestClient, upstream: FakeUpstreamServer
) -> None:
    """Saved as the seed's frontend saves it (cover_image only): the cover is sent."""
    cover = _png("#204080")
    saved = client.post(
        "/api/template/save",
        json={"name": "Seed look", "style_prompt": "blue", "cover_image": _data_url(cover)},
    ).json()["template"]
    assert saved["reference_images"] == []
    upstream.reset_stats()
    client.post("/api/slide/batch/generate", json=_deck(2, template_id=saved["id"]))
    assert _inputs(upstream) == [[image_digest(cover)]] * 2


def test_a_batch_s_own_references_win_and_plain_batches_send_none(
    client: TestClient, upstream: FakeUpstreamServer
) -> None:
    """A request's own reference_images replace the template's; no template, no image."""
    template = _saved_from_analysis(client, _png("#208080"))
    own = _png("#FFAA00")
    upstream.reset_stats()
    client.post(
        "/api/slide/batch/generate",
        json=_deck(2, template_id=template["id"], reference_images=[_data_url(own)]),
    )
    assert _inputs(upstream) == [[image_digest(own)]] * 2
    upstream.reset_stats()
    client.post("/api/slide/batch/generate", json=_deck(2, style_prompt="plain"))
    assert _inputs(upstream) == [[], []]


@pytest.mark.parametrize(
    ("refs", "words"),
    [
        ([_data_url(b"not an image")], "not an image"),
        (["https://example.com/a.png"], "/assets/templates/"),
        (["/assets/templates/ref-missing.png"], "/assets/templates/"),
        ([_data_url(_png("red"))] * 5, "at most 4"),
    ],
)
def test_bad_template_references_are_422(client: TestClient, refs: list[str], words: str) -> None:
    """Not an image, a foreign URL, a missing file, too many: 422 saying which."""
    body = {"name": "x", "style_prompt": "y", "reference_images": refs}
    answer = client.post("/api/template/save", json=body)
    assert answer.status_code == 422, answer.text
    assert words in answer.json()["detail"]


def test_an_unknown_template_is_404(client: TestClient) -> None:
    """A batch naming a template the caller does not have: 404 before anything runs."""
    answer = client.post("/api/slide/batch/generate", json=_deck(2, template_id="nope"))
    assert answer.status_code == 404


def test_only_usable_references_are_kept_from_an_analysis(client: TestClient) -> None:
    """A GIF is analysed but kept as no reference; of six PNGs the first four are kept."""
    gif = io.BytesIO()
    Image.new("RGB", (16, 9), "teal").save(gif, "GIF")
    files = [("files", ("a.gif", gif.getvalue(), "image/gif"))]
    files += [("files", (f"{n}.png", _png(f"#{n}0{n}0{n}0"), "image/png")) for n in range(6)]
    answer = client.post("/api/template/analyze", files=files)
    assert answer.status_code == 200, answer.text
    kept = answer.json()["reference_images"]
    assert len(kept) == 4
    assert all(url.endswith(".png") for url in kept)


def test_a_cover_the_seed_s_template_page_draws_outlives_its_batch(
    client: TestClient, upstream: FakeUpstreamServer
) -> None:
    """A template without a cover gets one as the seed's TemplateSelect makes it (POST
    /slide/generate, then PUT /template/{id} with the answered image_url): the cover is kept
    as the template's own file, outlives its one-slide batch, and is sent as no reference."""
    template = client.post(
        "/api/template/save", json={"name": "Typed look", "style_prompt": "teal lines"}
    ).json()["template"]
    assert template["cover_image"] is None
    drawn = client.post(
        "/api/slide/generate",
        json={
            "style_prompt": template["style_prompt"],
            "visual_desc": "一张高完成度的 PPT 模板封面预览图",
            "aspect_ratio": "16:9",
            "page_num": 1,
            "title": template["name"],
            "content_text": "模板预览",
        },
    )
    assert drawn.status_code == 200, drawn.text
    image = client.get(drawn.json()["image_url"]).content
    preview = {
        key: template[key]
        for key in ("name", "style_prompt", "vis_settings", "aspect_ratios")
        if key in template
    } | {
        "cover_image": drawn.json()["image_url"],
        "default_aspect_ratio": template["default_aspect_ratio"],
        "custom_dimensions": template["custom_dimensions"],
    }
    answer = client.put(f"/api/template/{template['id']}", json=preview)
    assert answer.status_code == 200, answer.text
    cover = answer.json()["template"]["cover_image"]
    assert cover.startswith("/assets/templates/")

    # The batch goes (DELETE here, BATCH_CLEANUP_HOURS in time); the cover stays.
    assert client.delete(f"/api/slide/batch/{drawn.json()['batch_id']}").status_code == 204
    assert client.get(drawn.json()["image_url"]).status_code == 404
    listed = {t["id"]: t for t in client.get("/api/template").json()["templates"]}
    assert listed[template["id"]]["cover_image"] == cover
    assert client.get(cover).content == image
    # Sent back unchanged (the seed's template editor does), it stays the same file.
    again = client.put(f"/api/template/{template['id']}", json=preview | {"cover_image": cover})
    assert again.json()["template"]["cover_image"] == cover

    # A drawn preview is no example of the user's: a batch from the template sends none.
    upstream.reset_stats()
    client.post("/api/slide/batch/generate", json=_deck(2, template_id=template["id"]))
    assert _inputs(upstream) == [[], []]
