"""The one table from slidebatch errors to HTTP answers: always JSON ``{"detail": ...}``."""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from slidebatch.errors import (
    AuthError,
    ConfigError,
    Conflict,
    Forbidden,
    InputError,
    LimitExceeded,
    NotFound,
    PermanentProviderError,
    ProviderError,
    QuotaExceeded,
    QuotaExhausted,
    RateLimited,
    Refused,
    SlidebatchError,
    SlideFailed,
    TransientProviderError,
)
from slidebatch.storage.errors import StorageLost, StorageUnavailable

# Most specific first: the first matching class decides the status.
STATUS_BY_ERROR: tuple[tuple[type[SlidebatchError], int], ...] = (
    (LimitExceeded, 413),
    (InputError, 422),
    (NotFound, 404),
    (Conflict, 409),
    (AuthError, 401),
    (Forbidden, 403),
    (SlideFailed, 502),
    (QuotaExceeded, 429),
    (Refused, 422),  # the model will not draw this prompt: the client must change it
    (QuotaExhausted, 503),  # the upstream account is out of quota until reset_at
    # A rate limit that reaches a client (the chat helpers make one attempt) is a wait, said
    # as a quota is: 503 with the upstream's Retry-After.
    (RateLimited, 503),
    # The scheduler retries these; one that still reaches a client is the upstream's fault.
    (TransientProviderError, 502),
    (PermanentProviderError, 502),
    (ProviderError, 502),
    (StorageLost, 503),
    (StorageUnavailable, 503),
    (ConfigError, 500),
    (SlidebatchError, 500),  # the root: anything not named above is ours
)


def status_for(error: SlidebatchError) -> int:
    return next(status for kind, status in STATUS_BY_ERROR if isinstance(error, kind))


def _headers(error: SlidebatchError) -> dict[str, str]:
    if isinstance(error, QuotaExceeded):
        return {"Retry-After": str(max(1, round(error.retry_after)))}
    if isinstance(error, RateLimited) and error.retry_after is not None:
        return {"Retry-After": str(max(1, round(error.retry_after)))}
    if isinstance(error, QuotaExhausted) and error.reset_at is not None:
        return {"Retry-After": str(max(1, round(error.reset_at - time.time())))}
    if isinstance(error, AuthError):
        return {"WWW-Authenticate": "Bearer"}
    return {}


async def _slidebatch_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SlidebatchError)
    status = status_for(exc)
    body: dict[str, object] = {"detail": exc.message}
    if isinstance(exc, LimitExceeded):
        body |= {"limit": exc.limit_name, "max": exc.limit}
        # A body-size limit is 413; a count or length inside a valid body is 422.
        if exc.limit_name != "MAX_BODY_BYTES":
            status = 422
    if isinstance(exc, SlideFailed):
        body |= {"status": "error", "batch_id": exc.batch_id, "slide_id": exc.slide_id}
    return JSONResponse(body, status_code=status, headers=_headers(exc))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    # Request bodies fail as RequestValidationError; models built inside a handler from
    # client data fail as pydantic's ValidationError: both are the client's to fix.
    assert isinstance(exc, RequestValidationError | ValidationError)
    problems = []
    for error in exc.errors():
        if error.get("type") == "json_invalid":
            problems.append(_json_problem(error))
            continue
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        problems.append(f"{where}: {error.get('msg')}" if where else str(error.get("msg")))
    return JSONResponse({"detail": "; ".join(problems) or "invalid request"}, status_code=422)


def _json_problem(error: Mapping[str, object]) -> str:
    """A body that is not JSON, said so: FastAPI's own words were "0: JSON decode error"."""
    loc = error.get("loc", ())
    position = loc[1] if isinstance(loc, tuple) and len(loc) > 1 else None
    ctx = error.get("ctx")
    reason = ctx.get("error") if isinstance(ctx, dict) else None
    where = f" at character {position}" if position is not None else ""
    because = f" ({reason})" if reason else ""
    return f"the request body is not valid JSON{where}{because}; send a JSON object"


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    services = getattr(request.app.state, "services", None)
    if services is not None:
        services.log.failure("request_failed", exc, method=request.method, path=request.url.path)
    else:  # before the lifespan opened the log: the traceback still reaches the operator
        traceback.print_exception(exc, file=sys.stderr)
    return JSONResponse({"detail": "internal error; see the server log"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SlidebatchError, _slidebatch_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
