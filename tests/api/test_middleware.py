from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from slidebatch.api.middleware import (
    BodySizeLimitMiddleware,
    RequestIdMiddleware,
    SecurityHeadersMiddleware,
)
from slidebatch.observability.context import current_request_id

LIMIT = 1000


class Echo(BaseModel):
    text: str


def _app() -> FastAPI:
    app = FastAPI()

    @app.post("/echo")
    async def echo(body: Echo) -> dict[str, Any]:
        return {"length": len(body.text), "request_id": current_request_id()}

    @app.post("/raw")
    async def raw(request: Request) -> dict[str, int]:
        return {"length": len(await request.body())}

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for i in range(3):
                yield f"data: {i}\n\n".encode()
                await asyncio.sleep(0)

        return StreamingResponse(chunks(), media_type="text/event-stream")

    @app.get("/docs-like")
    async def docs_like() -> dict[str, str]:
        return {}

    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=LIMIT)
    app.add_middleware(RequestIdMiddleware, id_factory=lambda: "generated-id")
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=_app()), base_url="http://test"
    ) as c:
        yield c


async def test_a_sane_request_id_is_echoed_and_visible_to_logs(client: httpx.AsyncClient) -> None:
    """A client's X-Request-ID comes back on the response and is the context's request id."""
    answer = await client.post("/echo", json={"text": "hi"}, headers={"X-Request-ID": "abc-123"})
    assert answer.headers["X-Request-ID"] == "abc-123"
    assert answer.json()["request_id"] == "abc-123"


@pytest.mark.parametrize("given", [None, "", "x" * 200, "bad id\twith spaces", "a/b<script>"])
async def test_a_missing_or_odd_request_id_is_replaced(
    client: httpx.AsyncClient, given: str | None
) -> None:
    """No id, an overlong one or one with odd characters gets a generated id instead."""
    headers = {} if given is None else {"X-Request-ID": given}
    answer = await client.post("/echo", json={"text": "hi"}, headers=headers)
    assert answer.headers["X-Request-ID"] == "generated-id"
    assert answer.json()["request_id"] == "generated-id"


async def test_the_request_id_does_not_leak_after_the_request(client: httpx.AsyncClient) -> None:
    """Outside a request the context holds no request id."""
    await client.post("/echo", json={"text": "hi"}, headers={"X-Request-ID": "r1"})
    assert current_request_id() is None


async def test_a_body_over_the_limit_by_content_length_is_413(client: httpx.AsyncClient) -> None:
    """A declared Content-Length over MAX_BODY_BYTES is refused with 413 naming the limit."""
    answer = await client.post("/echo", json={"text": "x" * 2000})
    assert answer.status_code == 413
    assert answer.json() == {
        "detail": f"request body is larger than MAX_BODY_BYTES ({LIMIT} bytes)"
    }
    assert answer.headers["X-Request-ID"] == "generated-id"


@pytest.mark.parametrize("path", ["/echo", "/raw"])
async def test_a_streamed_body_over_the_limit_is_413(client: httpx.AsyncClient, path: str) -> None:
    """A chunked body (no Content-Length) is counted as it arrives and refused with 413."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"text": "'
        for _ in range(20):
            yield b"x" * 100
        yield b'"}'

    answer = await client.post(path, content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in answer.request.headers
    assert answer.status_code == 413
    assert "MAX_BODY_BYTES" in answer.json()["detail"]


async def test_a_streamed_body_within_the_limit_passes(client: httpx.AsyncClient) -> None:
    """A chunked body under the limit reaches the route whole."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b"a" * 400
        yield b"b" * 400

    answer = await client.post("/raw", content=chunks())
    assert answer.status_code == 200
    assert answer.json() == {"length": 800}


async def test_security_headers_are_set(client: httpx.AsyncClient) -> None:
    """Every response carries CSP (no inline scripts), nosniff, a referrer policy and DENY."""
    answer = await client.get("/docs-like")
    csp = answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert answer.headers["X-Frame-Options"] == "DENY"


async def test_the_docs_page_gets_no_csp_but_the_other_headers() -> None:
    """/docs (Swagger UI with inline scripts) is exempt from the CSP only."""
    app = FastAPI()
    app.add_middleware(SecurityHeadersMiddleware)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        answer = await client.get("/docs")
    assert answer.status_code == 200
    assert "Content-Security-Policy" not in answer.headers
    assert answer.headers["X-Frame-Options"] == "DENY"


async def test_streams_pass_through_unbuffered() -> None:
    """Each SSE chunk reaches the server's send() as its own message, not one buffered body."""
    sent: list[MutableMapping[str, Any]] = []
    app = _app()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "path": "/stream",
        "raw_path": b"/stream",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test")],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
        "scheme": "http",
    }

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(3600)  # never disconnects during the test
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    bodies = [m["body"] for m in sent if m["type"] == "http.response.body" and m.get("body")]
    assert bodies == [b"data: 0\n\n", b"data: 1\n\n", b"data: 2\n\n"]
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert (b"x-request-id", b"generated-id") in start["headers"]
