"""What ``/api/...`` answers when no route takes the request: 404, or 405 with a true ``Allow``.

The page's static files are mounted at ``/`` and match every path, so without this an
``OPTIONS /api/slide/batch/status`` reached them and came back ``405 Allow: GET, HEAD``,
which lists methods that path does not have and leaves out the one it has (POST).

``Allow`` lists the methods the OpenAPI schema documents for the path; where two templates
match (``/slide/batch/status`` and ``/slide/batch/{batch_id}``), the one with more literal
text wins, as a reader of the schema would expect.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_PARAM = re.compile(r"\{([^}:]+)(:path)?\}")


@dataclass(frozen=True, slots=True)
class _Template:
    pattern: re.Pattern[str]
    literal: int  # characters outside parameters: the more, the more specific
    methods: tuple[str, ...]


def install_api_fallback(app: FastAPI, *, prefix: str = "/api") -> None:
    """Add the catch-all for ``prefix``; call after every real route is included."""
    templates: list[_Template] = []

    @app.api_route(f"{prefix}/{{rest:path}}", methods=ALL_METHODS, include_in_schema=False)
    async def api_fallback(request: Request) -> JSONResponse:
        if not templates:
            templates.extend(_templates(app))
        allowed = _allowed(templates, request.url.path)
        if not allowed:
            return JSONResponse({"detail": "no such API path"}, status_code=404)
        return JSONResponse(
            {"detail": f"method {request.method} not allowed; use {', '.join(allowed)}"},
            status_code=405,
            headers={"Allow": ", ".join(allowed)},
        )


def _templates(app: FastAPI) -> list[_Template]:
    found = []
    for path, operations in app.openapi().get("paths", {}).items():
        regex, literal, position = "", 0, 0
        for match in _PARAM.finditer(path):
            literal += match.start() - position
            regex += re.escape(path[position : match.start()])
            regex += ".+" if match.group(2) else "[^/]+"
            position = match.end()
        literal += len(path) - position
        regex += re.escape(path[position:])
        methods = tuple(m.upper() for m in operations if m.upper() in ALL_METHODS)
        found.append(_Template(re.compile(f"^{regex}$"), literal, methods))
    return found


def _allowed(templates: list[_Template], path: str) -> list[str]:
    matching = [t for t in templates if t.pattern.match(path)]
    if not matching:
        return []
    best = max(matching, key=lambda t: t.literal)
    return sorted(best.methods)
