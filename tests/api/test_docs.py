"""/docs and /redoc load every script and style from the server itself (they work offline);
/openapi.json is a valid document of the OpenAPI version it declares."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient

from slidebatch.api.app import create_app
from slidebatch.config import load_settings

_ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = load_settings(
        data_dir=tmp_path / "data", log_dir=tmp_path / "logs", image_provider="local"
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_reference_only_local_assets_that_exist(client: TestClient, page: str) -> None:
    """Every src/href of the page is a path on this server that answers 200 (no CDN)."""
    html = client.get(page)
    assert html.status_code == 200
    links = _ASSET.findall(html.text)
    assert links, html.text
    for link in links:
        assert link.startswith("/"), f"{page} loads {link} from elsewhere"
        answer = client.get(link)
        assert answer.status_code == 200, link
        assert len(answer.content) > 1000, link
    assert "cdn" not in html.text.lower()


def test_openapi_document_is_valid_for_its_declared_version(client: TestClient) -> None:
    """/openapi.json passes schemathesis' OpenAPI 3.1 meta-schema (no 3.2-only itemSchema)."""
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    schemathesis.openapi.from_dict(document).validate()
