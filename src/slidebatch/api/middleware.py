"""Pure ASGI middlewares: request ids, a request body limit, and security headers.

Pure ASGI (not ``BaseHTTPMiddleware``) so Server-Sent Events stream through unbuffered:
each one only looks at ``http.response.start`` and passes body chunks on as they come.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from slidebatch.observability.context import reset_request_id, set_request_id

REQUEST_ID_HEADER = "X-Request-ID"
# Accept a client's id only if it is short and plain: it ends up in logs and headers.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _new_request_id() -> str:
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Takes a sane ``X-Request-ID`` or makes one; sets it on the response and in the context."""

    def __init__(self, app: ASGIApp, *, id_factory: Callable[[], str] = _new_request_id) -> None:
        self.app = app
        self._id_factory = id_factory

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        request_id = given if given and _SANE_REQUEST_ID.match(given) else self._id_factory()
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        token = set_request_id(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            reset_request_id(token)


class _BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a streamed body passes the limit.

    An ``HTTPException`` so that frameworks which wrap body-reading errors (FastAPI turns
    them into a 400) let it through; the middleware answers 413 either way.
    """


class BodySizeLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` with a 413 JSON error.

    Checks ``Content-Length`` up front, and counts a streamed (chunked) body as it is read.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _detail(self) -> str:
        return f"request body is larger than MAX_BODY_BYTES ({self.max_bytes} bytes)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is not None and length.strip().isdigit() and int(length) > self.max_bytes:
            await _send_json(send, 413, {"detail": self._detail()})
            return
        received = 0
        too_large = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise _BodyTooLarge(413, self._detail())
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if too_large and not started:
                return  # whatever the app made of the error, the answer is our 413
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            # Once the body is too large, whatever the app raised is a consequence of that.
            if not too_large:
                raise
        if too_large and not started:
            await _send_json(send, 413, {"detail": self._detail()})


# A same-origin page with no inline scripts or styles; images may be data:/blob: previews.
DEFAULT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
# Swagger UI and ReDoc ship inline scripts and CDN assets; a strict CSP would blank them.
CSP_EXEMPT_PREFIXES = ("/docs", "/redoc")


class SecurityHeadersMiddleware:
    """Adds CSP, nosniff, a referrer policy and frame denial to every HTTP response."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        csp: str = DEFAULT_CSP,
        csp_exempt_prefixes: Iterable[str] = CSP_EXEMPT_PREFIXES,
    ) -> None:
        self.app = app
        self._csp = csp
        self._exempt = tuple(csp_exempt_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        with_csp = not any(path == p or path.startswith(p + "/") for p in self._exempt)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("X-Frame-Options", "DENY")
                if with_csp:
                    headers.setdefault("Content-Security-Policy", self._csp)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            text: str = value.decode("latin-1")
            return text
    return None


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode("ascii")),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
