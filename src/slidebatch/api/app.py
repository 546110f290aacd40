"""``create_app``: the FastAPI application and the one lifespan that owns every resource."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.cors import CORSMiddleware

from slidebatch import __version__
from slidebatch.api.docs import install_docs
from slidebatch.api.errors import install_error_handlers
from slidebatch.api.fallback import install_api_fallback
from slidebatch.api.list_body import ListBodies
from slidebatch.api.middleware import (
    BodySizeLimitMiddleware,
    RequestIdMiddleware,
    SecurityHeadersMiddleware,
)
from slidebatch.api.routes import (
    assets,
    batches,
    candidates,
    config,
    files,
    outline,
    placeholder,
    projects,
    seed_config,
    single,
    system,
    templates,
)
from slidebatch.api.schemas import ERROR_RESPONSES
from slidebatch.api.status_body import StatusBodies
from slidebatch.config import Settings, load_settings
from slidebatch.scheduler.clock import first_of
from slidebatch.services import Services, build_services
from slidebatch.web import static_dir

ServicesFactory = Callable[[Settings], AbstractAsyncContextManager[Services]]

DESCRIPTION = """\
Turn a deck outline plus one style prompt into finished slide images, many slides and many
decks at once, as fast as the image model's rate limit allows. Seed-compatible endpoints live
under `/api/slide/batch/*`; errors are always JSON `{"detail": ...}`.
"""


async def _let_requests_finish(services: Services) -> None:
    """Stop as SIGTERM asks: no new upstream request (the CLI's server held the engine when
    the signal came, ``cli/server.py``), and the requests in flight finish within
    ``LLM_TIMEOUT_SECONDS`` (their own bound) and are stored, as a fleet worker's do. The
    upstream bills them whether or not anyone waits: cancelled by the engine's stop, they
    were paid for and then paid again at the restart. What is still in flight after that
    is cancelled by the stop, its slide pending again."""
    engine = services.engine
    engine.hold()
    grace = services.settings.llm_timeout_seconds
    await first_of(engine.settle(), services.clock.sleep(grace))


def create_app(
    settings: Settings | None = None,
    *,
    services_factory: ServicesFactory | None = None,
    warm_start: bool = False,
    on_owner_lost: Callable[[], None] | None = None,
    drain_on_shutdown: bool = False,
) -> FastAPI:
    """The application; ``services_factory`` lets tests inject a provider or a clock.

    ``on_owner_lost`` is called once if the PostgreSQL owner lock's session ends under the
    process (``Services.owner_lost``): the CLI stops uvicorn then (``cli/server.py``).

    ``warm_start`` (``slidebatch serve``): before the first request, what FastAPI and anyio
    build at their first use is built (``_build_lazy_state``: the first request paid
    ~130 ms with the event loop stopped, measured with a stack sampler under
    ``slidebatch bench --load``); then everything built so far leaves the garbage
    collector's view (``gc.freeze``). A full collection walked the ~160,000 objects of the
    modules, the app and its schemas, 60-80 ms with the event loop stopped, every time the
    objects made by polls and slides reached its threshold.

    ``drain_on_shutdown`` (``slidebatch serve``): at shutdown the engine starts no request
    and those in flight finish and are stored (``_let_requests_finish``) before the
    services close.
    """
    settings = settings or load_settings()
    factory = services_factory or build_services

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with factory(settings) as services, _owner_lost_hook(on_owner_lost, services):
            app.state.services = services
            services.engine.start_cleanup(every=_cleanup_interval(settings))
            with _warm(app) if warm_start else contextlib.nullcontext():
                try:
                    yield
                finally:
                    if drain_on_shutdown:
                        await _let_requests_finish(services)

    app = FastAPI(
        title="slidebatch",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.status_bodies = StatusBodies()
    app.state.list_bodies = ListBodies()
    install_docs(app)
    install_error_handlers(app)
    _install_routes(app)
    _install_middleware(app, settings)
    app.mount("/", StaticFiles(directory=static_dir(), html=True), name="web")
    return app


def _install_routes(app: FastAPI) -> None:
    routers = (config.router, batches.router, candidates.router, single.router, files.router)
    for router in routers:
        app.include_router(router, prefix="/api", responses=ERROR_RESPONSES)
    for studio in (projects, templates, outline, placeholder, seed_config):  # the seed's studio
        app.include_router(studio.router, prefix="/api", responses=ERROR_RESPONSES)
    app.include_router(system.router)
    app.include_router(system.probes)
    app.include_router(assets.router, responses={404: ERROR_RESPONSES[404]})
    install_api_fallback(app)


@contextlib.contextmanager
def _warm(app: FastAPI) -> Iterator[None]:
    """Inside: the app's lazily built state is built, and what the start built is frozen."""
    _build_lazy_state(app)
    gc.collect()  # garbage of the start is freed, not frozen for good
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _build_lazy_state(app: FastAPI) -> None:
    """Build now what would otherwise be built inside the first requests, on the event loop.

    FastAPI (0.16x) builds a route's models, validators and dependencies the first time a
    request is matched against the router holding it; a path no route has is matched
    against every route, so every route's state is built here. anyio loads its asyncio
    backend at the first primitive made on a running loop (httpcore's pool locks, at the
    first upstream request). Neither has side effects beyond its caches.
    """
    scope = {"type": "http", "method": "GET", "path": "/\0warm", "root_path": "", "headers": []}
    for route in app.router.routes:
        route.matches(scope)
    anyio.Event()


def _install_middleware(app: FastAPI, settings: Settings) -> None:
    if settings.allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.allowed_origins),
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=[
                "Content-Type",
                "Authorization",
                "X-API-Key",
                "Idempotency-Key",
                "X-Request-ID",
            ],
        )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)


@asynccontextmanager
async def _owner_lost_hook(
    on_owner_lost: Callable[[], None] | None, services: Services
) -> AsyncIterator[None]:
    """Call ``on_owner_lost`` when the services' owner lock is lost, while in this block."""
    if on_owner_lost is None:
        yield
        return

    async def watch() -> None:
        await services.owner_lost.wait()
        on_owner_lost()

    task = asyncio.create_task(watch(), name="owner-lost-hook")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _cleanup_interval(settings: Settings) -> float:
    # Often enough that nothing outlives its age by much; never busier than once a minute.
    return max(60.0, min(3600.0, settings.batch_cleanup_hours * 3600 / 24))


def create_probe_app(
    settings: Settings,
    *,
    services_factory: ServicesFactory,
    on_owner_lost: Callable[[], None] | None = None,
) -> FastAPI:
    """A fleet worker's own HTTP surface: ``/healthz``, ``/readyz`` and ``/metrics`` only
    (``on_owner_lost`` as in ``create_app``)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            services_factory(settings) as services,
            _owner_lost_hook(on_owner_lost, services),
        ):
            app.state.services = services
            yield

    app = FastAPI(
        title="slidebatch worker",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    install_error_handlers(app)
    app.include_router(system.probes)
    return app
