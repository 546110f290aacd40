"""The one place that wires everything: settings in, running services out (API and CLI alike).

``build_services`` owns the lifetimes: the HTTP client, the database, the gate, the
dispatcher and the engine start together and stop in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

import httpx

from slidebatch import __version__
from slidebatch.config import ProviderName, Settings
from slidebatch.core.access import Caller
from slidebatch.core.audit import AuditOutcome
from slidebatch.core.cost import UnitCost, check_max_cost, unit_cost
from slidebatch.core.estimate import UpstreamFigures
from slidebatch.core.limits import InputLimits, check_batch_request, check_text
from slidebatch.core.quota import Quotas
from slidebatch.core.slide import BatchRequest
from slidebatch.engine.advisor import ConfigAdvisor
from slidebatch.engine.batch_engine import BatchEngine, EngineLimits
from slidebatch.engine.cost_guard import gate_cost, guard_cost
from slidebatch.engine.events import EventBus
from slidebatch.engine.figures import GateFigures
from slidebatch.fleet.attempt import AttemptParts
from slidebatch.fleet.engine import FleetEngine
from slidebatch.fleet.metrics import FleetMetrics, FleetView
from slidebatch.fleet.notify import plain_dsn
from slidebatch.fleet.pg_gate import open_pg_gate
from slidebatch.fleet.store import FleetHealth, FleetStore
from slidebatch.fleet.worker import FleetWorker, WorkerConfig, worker_name
from slidebatch.observability.audit import AuditLog
from slidebatch.observability.loop_lag import start_loop_lag
from slidebatch.observability.metrics import Metrics
from slidebatch.observability.pipeline_log import PipelineLog
from slidebatch.observability.scrub import settings_secrets
from slidebatch.providers.base import ImageProvider, ImageRequest, ImageResult
from slidebatch.providers.local import placeholder_image
from slidebatch.providers.registry import build_provider, make_http_client
from slidebatch.scheduler.clock import Clock, SystemClock
from slidebatch.scheduler.dispatcher import Dispatcher
from slidebatch.scheduler.gate import GateConfig, GateRegistry
from slidebatch.scheduler.rate_gate import RateGate
from slidebatch.scheduler.retry import RetryPolicy
from slidebatch.scheduler.scope import RateScope
from slidebatch.security.authenticator import Authenticator, check_bind_allowed, is_loopback
from slidebatch.security.quota_guard import QuotaGuard
from slidebatch.storage.database import Database
from slidebatch.storage.images import ImageStore
from slidebatch.storage.keys import KeyRepository, RecentMeanCost, UsageRepository
from slidebatch.storage.ownership import current_command
from slidebatch.storage.pg_key_hold import key_hold_across_processes
from slidebatch.storage.pg_owner import hold_database, require_postgresql, watch_owner
from slidebatch.storage.reconcile import Reconciled, reconcile_images

# Latency assumed before any answer was measured: the seed's measurements for remote models.
ASSUMED_LATENCY = {ProviderName.LOCAL: 0.3}
ASSUMED_REMOTE_LATENCY = 10.0


@dataclass(slots=True)
class AuditScope:
    """What an audited operation fills in as it learns it (the batch id, a detail)."""

    target: str
    detail: str | None = None


@dataclass(slots=True)
class Services:
    """Everything a request handler or a CLI command needs, built once."""

    settings: Settings
    database: Database
    http: httpx.AsyncClient
    provider: ImageProvider
    gate: RateGate
    engine: BatchEngine
    log: PipelineLog
    audit_log: AuditLog
    metrics: Metrics
    images: ImageStore
    limits: InputLimits
    clock: Clock
    authenticator: Authenticator
    quota: QuotaGuard
    mean_cost: RecentMeanCost
    guards: set[asyncio.Task[None]] = field(default_factory=set)
    worker: FleetWorker | None = None  # a fleet process with a worker inside
    # Set when the PostgreSQL owner lock's session ended under the process (storage/pg_owner.py)
    owner_lost: asyncio.Event = field(default_factory=asyncio.Event)
    fleet_view: FleetView | None = None  # the fleet's figures on /metrics (fleet processes)
    # Slides recorded at the start from images an earlier process stored but never recorded.
    reconciled: tuple[Reconciled, ...] = ()

    # --- cost ---

    async def unit_cost(self, *, recent: bool = False) -> UnitCost:
        """The price of one image now: free, measured usage.cost, configured, or unknown.

        ``recent``: a measured price up to ``MEAN_COST_MAX_AGE`` old will do (status polls).
        """
        local = self.provider.name == "local"
        measured = None
        if not local:
            measured = await (self.mean_cost.value() if recent else self.mean_cost.fresh())
        return unit_cost(
            local=local, measured=measured, configured=self.settings.upstream_price_per_image
        )

    async def check_max_cost(self, max_cost: float, images: int) -> UnitCost:
        """Refuse a batch estimated above ``max_cost``; the unit price used."""
        unit = await self.unit_cost()
        check_max_cost(max_cost, images, unit)
        return unit

    def guard_cost(self, batch_id: str, max_cost: float, unit: UnitCost) -> None:
        """Stop ``batch_id`` starting images once one more would pass ``max_cost``.

        A fleet's claims do it (``FleetStore.claim``, under the batch's lock): a guard here
        would hear the workers' starts too late to stop the one that passes the cap.
        """
        if isinstance(self.engine, FleetEngine):
            return
        # Gated before the task runs: nothing of it starts until the guard has read it.
        watch = gate_cost(self.engine, batch_id, max_cost, unit)
        task = asyncio.create_task(
            guard_cost(self.engine, batch_id, watch, self.log),
            name=f"cost-guard-{batch_id}",
        )
        self.guards.add(task)
        task.add_done_callback(self.guards.discard)

    async def capped_batches(self) -> list[tuple[str, float]]:
        """The unfinished batches this engine runs that have a ``max_cost``, with it."""
        batches = await self.database.batches.unfinished_batches()
        return [
            (b.id, b.max_cost)
            for b in batches
            if b.max_cost is not None and self.engine.runs.adopts(b.id)
        ]

    async def guard_stored(self) -> None:
        """Follow the cost ceilings of the stored unfinished batches (after a restart).

        A batch already at its cap was cancelled as it started (``engine/runs.py``); the
        price is the one known now, and the guard prices what remains at the dearest image.
        """
        capped = await self.capped_batches()
        if not capped:
            return
        unit = await self.unit_cost()
        for batch_id, max_cost in capped:
            self.guard_cost(batch_id, max_cost, unit)

    async def stop_guards(self) -> None:
        for task in list(self.guards):
            task.cancel()
        await asyncio.gather(*self.guards, return_exceptions=True)

    async def spend_today(self, caller: Caller) -> dict[str, Any]:
        """The caller's key's spend and slides since the start of its day (local time)."""
        owner = caller.owner
        since = self.quota.today()  # the day the quotas count, on the guard's clock
        usage = UsageRepository.on(self.database)
        spent = await usage.spend_since(owner, since) if owner else None
        slides = await usage.slides_since(owner, since) if owner else None
        return {"key_id": owner, "since": since.isoformat(), "spent": spent, "slides": slides}

    # --- checks the API runs before doing work ---

    def check_request(self, request: BatchRequest) -> None:
        """Raise ``LimitExceeded`` naming the limit a request goes past."""
        check_batch_request(request, self.limits)

    def check_visual_desc(self, text: str) -> None:
        """A regenerate request's new visual description, against MAX_VISUAL_DESC_CHARS."""
        check_text("visual_desc", text, "MAX_VISUAL_DESC_CHARS", self.limits)

    async def check_quota(self, caller: Caller, slides: int) -> None:
        """Raise ``QuotaExceeded`` when ``caller``'s key may not start ``slides`` more slides.
        Call it inside ``quota_hold`` with the storing of what it lets through."""
        await self.quota.check(caller.principal, slides)

    def quota_hold(self, caller: Caller) -> AbstractAsyncContextManager[None]:
        """Hold ``caller``'s key from its quota check until the batch is stored and committed
        (``QuotaGuard.admitting``; on PostgreSQL across every process of the database):
        concurrent submits of one key cannot pass on one count."""
        return self.quota.admitting(caller.principal)

    @asynccontextmanager
    async def audited(
        self, caller: Caller, action: str, target: str, *, detail: str | None = None
    ) -> AsyncIterator[AuditScope]:
        """Record ``action`` on ``target`` with its outcome, whatever happens inside."""
        scope = AuditScope(target, detail)
        try:
            yield scope
        except BaseException as exc:
            await self._audit(caller, action, scope, outcome=AuditOutcome.of(exc))
            raise
        await self._audit(caller, action, scope, outcome=AuditOutcome.OK)

    async def _audit(
        self, caller: Caller, action: str, scope: AuditScope, *, outcome: AuditOutcome
    ) -> None:
        await self.audit_log.record(
            action,
            outcome=outcome,
            principal=caller.principal,
            client=caller.client,
            target=scope.target,
            detail=scope.detail,
        )

    # --- figures ---

    def figures(self) -> UpstreamFigures:
        """What the gate knows now: effective rate, and latency measured or assumed."""
        return self.engine.runs.figures()

    @property
    def rate_scope_key(self) -> str:
        """The scope the gate counts in (provider, credential digest, model): never a key."""
        return rate_scope(self.settings, self.provider).key

    def advisor(self) -> ConfigAdvisor:
        cap = self.gate.stats().in_flight_cap
        return ConfigAdvisor(self.settings, self.figures(), in_flight_cap=cap)

    async def render_metrics(self) -> tuple[bytes, str]:
        self.metrics.set_batch_states(await self.database.batches.count_active())
        if self.fleet_view is not None and isinstance(self.engine, FleetEngine):
            lease = self.settings.fleet_lease_seconds
            self.fleet_view.set(*await self.engine.store.fleet_figures(lease=lease))
        return self.metrics.render()

    async def fleet_health(self) -> FleetHealth | None:
        """The fleet's workers and open work (``/readyz``), ``None`` outside a fleet. A
        worker is alive while its heartbeat is younger than two leases (when a silent
        worker's row is pruned)."""
        if self.fleet_view is None or not isinstance(self.engine, FleetEngine):
            return None
        alive = 2 * self.settings.fleet_lease_seconds
        return await self.engine.store.fleet_health(alive_within=alive)

    async def info(self) -> ServerInfo:
        """What the web page needs to know about this server."""
        return ServerInfo(
            version=__version__,
            provider=self.provider.name,
            model=model_name(self.settings),
            auth_required=not await self.authenticator.open_mode(),
            max_slides=self.limits.max_slides,
            max_workers=self.settings.batch_max_workers,
            max_concurrent=self.settings.batch_max_concurrent,
            max_body_bytes=self.limits.max_body_bytes,
            default_workers=self.settings.batch_default_workers,
        )


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """``/api/info``: version, provider, whether keys are required, limits."""

    version: str
    provider: str
    model: str | None
    auth_required: bool
    max_slides: int
    max_workers: int
    max_concurrent: int
    max_body_bytes: int
    default_workers: int | str


def rate_scope(settings: Settings, provider: ImageProvider) -> RateScope:
    """The scope ``provider``'s limit is counted in: the key its gate is shared under."""
    return RateScope.of(
        provider.name,
        provider.credential_id,
        model_name(settings),
        project=settings.gemini_project_id,
    )


def model_name(settings: Settings) -> str | None:
    """The image model the configured remote provider uses (None for local)."""
    return {
        ProviderName.OPENROUTER: settings.llm_image_model,
        ProviderName.GEMINI: settings.gemini_image_model,
        ProviderName.OPENAI: settings.openai_image_model,
    }.get(settings.provider)


def _placeholder(long_side: int) -> Callable[[ImageRequest, str], ImageResult]:
    def draw(request: ImageRequest, reason: str) -> ImageResult:
        return placeholder_image(request, reason, long_side=long_side)

    return draw


@dataclass(frozen=True, slots=True)
class FleetRole:
    """A process of a fleet on PostgreSQL: it serves the API, runs a worker, or both.

    Without a role a process is alone with its database (SQLite, or PostgreSQL used by one
    process): it dispatches in memory and resumes every unfinished batch at start.
    """

    api: bool = True
    worker: bool = False


def fleet_factory(role: FleetRole) -> Callable[[Settings], AbstractAsyncContextManager[Services]]:
    """``build_services`` for a process of a fleet (for ``create_app``'s factory)."""

    def factory(settings: Settings) -> AbstractAsyncContextManager[Services]:
        return build_services(settings, fleet=role)

    return factory


@asynccontextmanager
async def build_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    provider: ImageProvider | None = None,
    rng: random.Random | None = None,
    adopt_stored: bool = True,
    fleet: FleetRole | None = None,
) -> AsyncIterator[Services]:
    """Open everything ``settings`` describe, start the engine, and close it all on exit.

    ``provider`` replaces the configured one (tests, benchmarks); ``clock`` and ``rng`` make
    scheduling deterministic in tests. ``adopt_stored=False`` (the CLI) runs only the batches
    submitted or resumed through this engine, never other unfinished ones in the database.
    ``fleet``: this process is one of a fleet sharing a PostgreSQL database (``ConfigError``
    on SQLite).
    """
    clock = clock or SystemClock()
    async with AsyncExitStack() as stack:
        settings.log_dir.mkdir(parents=True, exist_ok=True)
        log = PipelineLog(settings.log_dir, secrets=settings_secrets(settings))
        database = await Database.open(
            settings.effective_database_url,
            sleep=clock.sleep,
            log=log,
            pool_size=settings.database_pool_size,
        )
        stack.push_async_callback(database.close)
        lost = await _own_database(database, fleet, stack)
        http = make_http_client(settings)
        stack.push_async_callback(http.aclose)
        provider = provider or build_provider(settings, http, log=log)
        metrics = Metrics()
        gate = await _open_gate(settings, provider, database, clock, fleet, log, stack)
        images = ImageStore(settings.images_dir)
        parts = _EngineParts(database, provider, gate, log, metrics, images, clock)
        rng = rng or random.Random()
        engine = _engine(settings, parts, rng, adopt_stored=adopt_stored, fleet=fleet)
        services = _services(settings, parts, http, engine)
        services.owner_lost = lost
        stack.callback(_close_logs, services)  # after the engine's stop (LIFO)
        services.fleet_view = None if fleet is None else FleetView(metrics)
        metrics.add_sampler(lambda m: _sample_gate(m, services))
        if fleet is None:  # a fleet's slides in flight belong to live workers
            price = (await services.unit_cost()).per_image
            services.reconciled = await _reconcile(database, images, log, price)
        await engine.start()
        stack.push_async_callback(engine.stop)
        if fleet is not None and fleet.worker:
            await _start_worker(services, parts, _policy(settings, rng), stack)
        if not database.is_sqlite:
            watch = asyncio.create_task(_watch_owner(services), name="owner-watch")
            stack.push_async_callback(_cancelled, watch)
        lag = start_loop_lag(clock, metrics.loop_lag)
        stack.push_async_callback(_cancelled, lag)
        stack.push_async_callback(services.stop_guards)
        await services.guard_stored()
        yield services
        await asyncio.sleep(0)


def _close_logs(services: Services) -> None:
    """Close the audit and pipeline logs' open files (a later line would open them again)."""
    services.audit_log.close()
    services.log.close()


def _services(
    settings: Settings, parts: _EngineParts, http: httpx.AsyncClient, engine: BatchEngine
) -> Services:
    """The ``Services`` over what ``build_services`` opened (nothing started here)."""
    return Services(
        settings=settings,
        database=parts.database,
        http=http,
        provider=parts.provider,
        gate=parts.gate,
        engine=engine,
        log=parts.log,
        audit_log=AuditLog(
            settings.log_dir, parts.database, secrets=settings_secrets(settings), log=parts.log
        ),
        metrics=parts.metrics,
        images=parts.images,
        limits=InputLimits.from_settings(settings),
        clock=parts.clock,
        mean_cost=RecentMeanCost(UsageRepository.on(parts.database), parts.clock.now),
        **_access(settings, parts.database),
    )


async def _open_gate(
    settings: Settings,
    provider: ImageProvider,
    database: Database,
    clock: Clock,
    fleet: FleetRole | None,
    log: PipelineLog,
    stack: AsyncExitStack,
) -> RateGate:
    """The upstream's rate gate: in memory for one process, in the database for a fleet.

    A fleet's gate is closed when ``stack`` unwinds.
    """
    scope = rate_scope(settings, provider)
    if fleet is None:
        return GateRegistry(_gate_config(settings, provider), clock=clock).gate_for(scope.key)
    # one gate per scope for the whole fleet, in the database
    gate = await open_pg_gate(
        database.engine,
        scope.key,
        _gate_config(settings, provider),
        clock=clock,
        lease_seconds=settings.fleet_lease_seconds,
        log=log,
        sets_config=fleet.worker,  # an API process sends nothing: it follows the workers'
    )
    stack.push_async_callback(gate.aclose)
    return gate


async def _own_database(
    database: Database, fleet: FleetRole | None, stack: AsyncExitStack
) -> asyncio.Event:
    """On PostgreSQL, take the owner lock (a fleet shares it, an engine owns it:
    ``storage/pg_owner.py``) until ``stack`` unwinds. The event is set if the lock's
    session ends under the process (never on SQLite, owned by ``storage/ownership.py``)."""
    lost = asyncio.Event()
    if fleet is not None:
        require_postgresql(str(database.engine.url))
    if not database.is_sqlite:
        owner = await hold_database(
            plain_dsn(database.engine.url), fleet=fleet is not None, command=current_command()
        )
        stack.push_async_callback(watch_owner(owner, lost.set))
    return lost


async def _watch_owner(services: Services) -> None:
    """The owner lock's session ended (the connection dropped, an admin terminated it):
    another engine may now take the database and pay slides twice beside this process.
    Say so, and a worker stops claiming (its requests in flight finish); the commands
    that own a process (``worker``, ``serve`` in every mode: ``cli/server.py``) then shut
    down and exit ``EXIT_OWNER_LOST`` for their supervisor to restart them."""
    await services.owner_lost.wait()
    services.log.event(
        "database_owner_lost",
        level="error",
        details={"worker": services.worker.name if services.worker else None},
    )
    if services.worker is not None:
        await services.worker.stop(grace=services.settings.llm_timeout_seconds)


async def _start_worker(
    services: Services, parts: _EngineParts, policy: RetryPolicy, stack: AsyncExitStack
) -> None:
    """Start this process's fleet worker; it is cancelled when ``stack`` unwinds.

    Its first heartbeat is written before this returns: ready before the first request.
    """
    services.worker = fleet_worker(
        services.settings, parts, policy, unit_cost=lambda: services.unit_cost(recent=True)
    )
    services.metrics.add_sampler(services.worker.sample)
    await services.worker.beat()
    worker = services.worker
    running = asyncio.create_task(worker.run(), name="fleet-worker")

    async def stop() -> None:  # requests in flight finish, bounded by their own timeout
        await worker.stop(grace=services.settings.llm_timeout_seconds)
        await _cancelled(running)

    stack.push_async_callback(stop)


@dataclass(frozen=True, slots=True)
class _EngineParts:
    """What the engine is built on, opened by ``build_services``."""

    database: Database
    provider: ImageProvider
    gate: RateGate
    log: PipelineLog
    metrics: Metrics
    images: ImageStore
    clock: Clock


def _policy(settings: Settings, rng: random.Random) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.slide_max_attempts,
        max_requeues=settings.slide_max_rate_limit_requeues,
        base=settings.retry_base_seconds,
        cap=settings.retry_max_seconds,
        rng=rng,
        max_pause=settings.upstream_max_pause_seconds,
        quota_recheck=settings.upstream_no_credit_recheck_seconds,
    )


def _engine(
    settings: Settings,
    parts: _EngineParts,
    rng: random.Random,
    *,
    adopt_stored: bool,
    fleet: FleetRole | None = None,
) -> BatchEngine:
    """The dispatcher (gate, retry policy, the attempt deadline) and the engine over it."""
    dispatcher = Dispatcher(
        parts.provider,
        parts.gate,
        _policy(settings, rng),
        clock=parts.clock,
        attempt_timeout=settings.llm_timeout_seconds,
        log=parts.log,
        observe=parts.metrics.attempt_phase,
    )
    assumed = ASSUMED_LATENCY.get(settings.provider, ASSUMED_REMOTE_LATENCY)
    placeholder = settings.slide_placeholder_on_failure
    engine_parts: dict[str, Any] = {
        "repo": parts.database.batches,
        "images": parts.images,
        "provider_name": parts.provider.name,
        "dispatcher": dispatcher,
        "limits": EngineLimits(
            max_concurrent=settings.batch_max_concurrent,
            max_workers=settings.batch_max_workers,
            default_workers=settings.default_workers,
            image_size=settings.llm_image_size,
            cleanup_after=timedelta(hours=settings.batch_cleanup_hours),
        ),
        "log": parts.log,
        "events": EventBus(),
        "clock": parts.clock,
        "figures": GateFigures(parts.gate, assumed, parts.clock),
        "metrics": parts.metrics,
        "placeholder": _placeholder(settings.local_render_long_side) if placeholder else None,
        "adopt_stored": adopt_stored,
    }
    if fleet is not None:
        store = FleetStore(parts.database.engine)
        return FleetEngine(store=store, dsn=plain_dsn(parts.database.engine.url), **engine_parts)
    return BatchEngine(**engine_parts)


def fleet_worker(
    settings: Settings,
    parts: _EngineParts,
    policy: RetryPolicy,
    *,
    unit_cost: Callable[[], Awaitable[UnitCost]] | None = None,
) -> FleetWorker:
    """A fleet worker on the process's database, provider, gate, images and logs;
    ``unit_cost``: the price of one image, for ``max_cost`` at each claim."""
    name = worker_name()
    placeholder = settings.slide_placeholder_on_failure
    attempt_parts = AttemptParts(
        store=FleetStore(parts.database.engine),
        provider=parts.provider,
        gate=parts.gate,
        policy=policy,
        images=parts.images,
        log=parts.log,
        metrics=parts.metrics,
        fleet_metrics=FleetMetrics(parts.metrics, name),
        clock=parts.clock,
        wall=lambda: datetime.now(UTC),
        timeout=settings.llm_timeout_seconds,
        placeholder=_placeholder(settings.local_render_long_side) if placeholder else None,
    )
    config = WorkerConfig(
        lease=settings.fleet_lease_seconds,
        poll=settings.fleet_poll_seconds,
        max_concurrent=settings.batch_max_concurrent,
        image_size=settings.llm_image_size,
    )
    return FleetWorker(
        name=name,
        parts=attempt_parts,
        repo=parts.database.batches,
        config=config,
        dsn=plain_dsn(parts.database.engine.url),
        unit_cost=unit_cost,
    )


class _Access(TypedDict):
    authenticator: Authenticator
    quota: QuotaGuard


def _access(settings: Settings, database: Database) -> _Access:
    """Who may call (API keys, open mode on loopback) and how much (quotas)."""
    keys = KeyRepository.on(database)
    quotas = Quotas(
        settings.key_default_max_concurrent,
        settings.key_default_max_slides_per_day,
        settings.key_default_max_spend_per_day,
    )
    return _Access(
        authenticator=Authenticator(
            keys,
            allow_open=is_loopback(settings.server_host) or settings.insecure_no_auth,
            default_quotas=quotas,
        ),
        quota=QuotaGuard(
            database.batches,
            UsageRepository.on(database),
            keys=keys,
            defaults=quotas,
            key_hold=key_hold_across_processes(
                database.engine, pool_size=settings.database_pool_size
            ),
        ),
    )


async def _reconcile(
    database: Database, images: ImageStore, log: PipelineLog, price: float | None
) -> tuple[Reconciled, ...]:
    """Record as done the slides whose paid image reached the disk but not the database,
    at their reported cost, else at ``price`` (an estimate); those slides."""
    found = tuple(await reconcile_images(database.batches, images, price=price))
    for item in found:
        log.event(
            "slide_reconciled",
            batch_id=item.slide.batch_id,
            details={
                "slide_key": item.slide.key,
                "page_num": item.slide.slide.page_num,
                "image_file": item.image_file,
                "generation_time": item.generation_time,
                "cost": item.cost,
                "cost_estimated": item.estimated,
            },
        )
    return found


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _sample_gate(metrics: Metrics, services: Services) -> None:
    stats = services.gate.stats()
    metrics.set_gate(
        effective_rate=stats.effective_rate,
        in_flight=stats.in_flight,
        queue_depth=services.engine.dispatcher.queued_total(),
        blocked=stats.blocked,
        parked=stats.parked_until is not None,
    )


async def check_bind(settings: Settings) -> None:
    """Refuse (``ConfigError``) to serve a non-loopback address without API keys."""
    database = await Database.open(
        settings.effective_database_url, pool_size=settings.database_pool_size
    )
    try:
        keys_exist = await KeyRepository.on(database).any_exist()
    finally:
        await database.close()
    check_bind_allowed(settings.server_host, keys_exist, settings.insecure_no_auth)


def _gate_config(settings: Settings, provider: ImageProvider) -> GateConfig:
    return GateConfig(
        rate=settings.upstream_rpm if provider.name != "local" else None,
        window=settings.upstream_rate_window_seconds,
        per_day=settings.upstream_rpd,
        max_in_flight=_in_flight(settings, provider),
        max_pause=settings.upstream_max_pause_seconds,
        # The local renderer has no limit to discover: spacing its starts only slows it.
        probe_gap=settings.upstream_probe_seconds if provider.name != "local" else 0.0,
        window_configured="upstream_rate_window_seconds" in settings.model_fields_set,
    )


def _in_flight(settings: Settings, provider: ImageProvider) -> int:
    if provider.name == "local":
        # Rendering is CPU work in threads: more than a few at once only adds contention.
        return min(settings.upstream_max_in_flight, 4)
    return settings.upstream_max_in_flight
