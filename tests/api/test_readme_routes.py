"""The README's HTTP API tables name exactly the routes the server has, no more, no fewer."""

from __future__ import annotations

import re
from pathlib import Path

from slidebatch.api.app import create_app
from slidebatch.config import load_settings

README = Path(__file__).resolve().parents[2] / "README.md"
_METHODS = re.compile(r"\b((?:GET|POST|PUT|DELETE)(?:/(?:GET|POST|PUT|DELETE))*)\b|`([^`]+)`")
_PARAM = re.compile(r"\{[^}]*\}")
# Pages the app serves beside its OpenAPI schema (which leaves them out).
_DOC_PAGES = {("GET", "/docs"), ("GET", "/redoc"), ("GET", "/openapi.json")}


def readme_routes(text: str) -> set[tuple[str, str]]:
    """(method, path) named in the first cells of the README's HTTP API section's tables.

    A backticked path takes the methods written last before it (``GET/DELETE `/x` ``);
    path parameters compare by position only (``{id}`` and ``{batch_id}`` are the same).
    """
    section = text.split("\n## The HTTP API\n", 1)[1].split("\n## ", 1)[0]
    found: set[tuple[str, str]] = set()
    for line in section.splitlines():
        if not line.startswith("| ") or line.startswith("| ..."):
            continue
        methods: list[str] = []
        for match in _METHODS.finditer(line.split(" | ", 1)[0]):
            if match.group(1):
                methods = match.group(1).split("/")
            elif match.group(2).startswith("/") and methods:
                found.update((m, _PARAM.sub("{}", match.group(2))) for m in methods)
    return found


def app_routes(tmp_path: Path) -> set[tuple[str, str]]:
    """(method, path) of every route the app documents in its schema, plus the doc pages."""
    settings = load_settings(
        data_dir=tmp_path / "data", log_dir=tmp_path / "logs", image_provider="local"
    )
    schema = create_app(settings).openapi()
    routes = {
        (method.upper(), _PARAM.sub("{}", path))
        for path, operations in schema["paths"].items()
        for method in operations
    }
    return routes | _DOC_PAGES


def test_every_route_is_in_the_readme_and_every_readme_route_exists(tmp_path: Path) -> None:
    """The README's tables and the app's routes are the same set (method and path)."""
    documented = readme_routes(README.read_text(encoding="utf-8"))
    served = app_routes(tmp_path)
    assert sorted(served - documented) == [], "routes the README does not name"
    assert sorted(documented - served) == [], "README rows naming no route"


def test_the_parser_reads_grouped_methods_and_full_paths() -> None:
    """``GET/DELETE `/a/{id}`, POST `/b``` is three routes; a ``...`` row is a note."""
    text = (
        "\n## The HTTP API\n\n| method, path | what |\n|---|---|\n"
        "| GET/DELETE `/a/{id}`, POST `/b` | x `/not/this` |\n| ... `field` | note |\n"
    )
    assert readme_routes(text) == {("GET", "/a/{}"), ("DELETE", "/a/{}"), ("POST", "/b")}
