"""Reference images over HTTP: data URLs and this server's images are taken; the rest is a 4xx."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from slidebatch.api.app import create_app
from slidebatch.config import load_settings


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = load_settings(
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        image_provider="local",
        local_render_long_side=160,
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _png(color: str = "teal") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 18), color).save(out, "PNG")
    return out.getvalue()


def _data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _deck(**extra: object) -> dict[str, object]:
    return {"slides": [{"title": "Cover"}, {"title": "Two"}], "style_prompt": "x"} | extra


def test_a_data_url_reference_is_accepted(client: TestClient) -> None:
    """A PNG data URL as reference (and anchor mode) makes a batch that completes."""
    body = _deck(reference_images=[_data_url(_png())], anchor=True)
    answer = client.post("/api/slide/batch/generate", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["successful"] == 2


def test_an_image_of_this_server_is_a_reference(client: TestClient) -> None:
    """A slide image URL of this server (relative or absolute) is read from the store."""
    first = client.post("/api/slide/batch/generate", json=_deck()).json()
    url = first["results"][0]["image_url"]
    for ref in (url, f"http://testserver{url}"):
        answer = client.post("/api/slide/batch/generate", json=_deck(reference_images=[ref]))
        assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    ("refs", "status", "words"),
    [
        ([_data_url(b"this is not an image at all", "image/png")], 422, "not an image"),
        (["https://example.com/a.png"], 422, "never fetched"),
        (["http://testserver/images/" + "0" * 32 + "/p001-k0-000000000000.png"], 422, "no such"),
        ([_data_url(_png())] * 5, 422, "at most 4"),
        (["data:image/png;base64,@@@"], 422, "base64"),
    ],
)
def test_bad_references_are_a_clear_4xx(
    client: TestClient, refs: list[str], status: int, words: str
) -> None:
    """Not an image, someone else's URL, a missing image, too many, bad base64: 4xx, said."""
    answer = client.post("/api/slide/batch/generate", json=_deck(reference_images=refs))
    assert answer.status_code == status, answer.text
    assert words in answer.json()["detail"]


def test_a_50_mb_reference_is_413(client: TestClient) -> None:
    """A 50 MB upload is refused by size before anything is decoded."""
    huge = "data:image/png;base64," + "A" * (50 * 1024 * 1024)
    answer = client.post("/api/slide/batch/generate", json=_deck(reference_images=[huge]))
    assert answer.status_code == 413
    assert "MAX_BODY_BYTES" in answer.json()["detail"]
