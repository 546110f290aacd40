"""``run_bench``: start the world, run every scenario both ways, judge the figures."""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from slidebatch.bench.environment import (
    BENCH_API_KEY,
    IN_FLIGHT_CAP,
    OVERLOAD_RETRY_AFTER,
    RATE,
    WINDOW,
    BenchEnvironment,
    EnvironmentConfig,
)
from slidebatch.bench.figures import RunFigures, run_figures, upstream_counts
from slidebatch.bench.naive import run_naive
from slidebatch.bench.report import (
    LEARNED_RATE_LIMITED_GOAL,
    LEARNED_RATIO_GOAL,
    RATE_LIMITED_GOAL,
    RATIO_GOAL,
    BenchReport,
    FairnessCheck,
    FaultCheck,
)
from slidebatch.bench.scenarios import BatchSpec, Scenario, fault_scenario, scenarios
from slidebatch.bench.service_run import run_service
from slidebatch.testing.fake_behaviour import Fault

# The fault mix: 10% 5xx, 5% hangs, 5% malformed answers.
FAULT_MIX = {
    Fault.ERROR_500: 0.04,
    Fault.ERROR_502: 0.03,
    Fault.ERROR_503: 0.03,
    Fault.HANG: 0.05,
    Fault.MALFORMED: 0.05,
}
# Attempt timeout of the fault run (unscaled): well above the latency tail, so only hangs hit it.
FAULT_RUN_TIMEOUT = 45.0
_RUN_TIMEOUT_WALL = 600.0

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class BenchOptions:
    """How ``slidebatch bench`` runs."""

    time_scale: float = 0.1
    quick: bool = False
    naive: bool = True
    fault_mix: bool = True
    seed: int = 1
    # Run without UPSTREAM_RPM against the upstream that counts refusals and sends its
    # figures only with 429s: the gate must learn the limit (and, with learn_window, the
    # window too: UPSTREAM_RATE_WINDOW_SECONDS unset, 60 s assumed).
    learn_limit: bool = False
    learn_window: bool = False
    root: Path | None = None  # working folder (data, logs); a temporary one when None


@contextmanager
def _workdir(root: Path | None) -> Iterator[Path]:
    if root is not None:
        root.mkdir(parents=True, exist_ok=True)
        yield root
        return
    with tempfile.TemporaryDirectory(prefix="slidebatch-bench-") as tmp:
        yield Path(tmp)


def run_bench(options: BenchOptions, progress: Progress | None = None) -> BenchReport:
    """Run the whole bench and return its figures (about five minutes at scale 0.1)."""
    say = progress or (lambda _: None)
    started = time.perf_counter()
    with _workdir(options.root) as root:
        rows, fairness = _main_runs(options, root / "main", say)
        fault_row: RunFigures | None = None
        fault: FaultCheck | None = None
        if options.fault_mix:
            fault_row, fault = _fault_run(options, root / "faults", say)
    binding = tuple(s.name for s in scenarios(quick=options.quick) if s.slides > RATE)
    learning = options.learn_limit or options.learn_window
    return BenchReport(
        setup=_setup(options),
        ratio_goal=(LEARNED_RATIO_GOAL if options.learn_window else RATIO_GOAL)
        if learning
        else RATIO_GOAL,
        rate_limited_goal=LEARNED_RATE_LIMITED_GOAL if learning else RATE_LIMITED_GOAL,
        time_scale=options.time_scale,
        rows=tuple(rows),
        fairness=fairness,
        fault=fault,
        fault_row=fault_row,
        binding=binding,
        elapsed_wall=time.perf_counter() - started,
    )


def _setup(options: BenchOptions) -> str:
    if not (options.learn_limit or options.learn_window):
        return (
            "UPSTREAM_RPM and UPSTREAM_RATE_WINDOW_SECONDS configured; the upstream counts "
            "accepted requests and sends its figures with every answer"
        )
    configured = (
        "nothing configured (a 60 s window assumed)"
        if options.learn_window
        else "UPSTREAM_RATE_WINDOW_SECONDS configured, UPSTREAM_RPM learned"
    )
    return (
        f"{configured}; the upstream counts refused requests too and sends X-RateLimit-* "
        "(reset in epoch ms) only with 429s, without Retry-After"
    )


def _main_runs(
    options: BenchOptions, root: Path, say: Progress
) -> tuple[list[RunFigures], FairnessCheck | None]:
    scale = options.time_scale
    config = EnvironmentConfig(
        root=root,
        time_scale=scale,
        seed=options.seed,
        configured_limit=not (options.learn_limit or options.learn_window),
        configured_window=not options.learn_window,
        harsh_upstream=options.learn_limit or options.learn_window,
    )
    rows: list[RunFigures] = []
    fairness: FairnessCheck | None = None
    with BenchEnvironment(config) as env, httpx.Client(base_url=env.base_url) as client:
        say("warming up the server (one slide, not measured)")
        warm = Scenario("warm-up", (BatchSpec(1),))
        run_service(client, warm, "warm", timeout=_RUN_TIMEOUT_WALL)
        for number, scenario in enumerate(scenarios(quick=options.quick), start=1):
            env.drain()
            say(f"slidebatch: {scenario.name}")
            run = run_service(client, scenario, f"s{number}", timeout=_RUN_TIMEOUT_WALL)
            counts = upstream_counts(env.fake.stats())
            rows.append(
                run_figures(
                    name=scenario.name,
                    system="slidebatch",
                    slides=scenario.slides,
                    successful=run.successful,
                    makespan=run.makespan / scale,
                    counts=counts,
                    rate=RATE,
                    window=WINDOW,
                    cap=scenario.bound_cap(IN_FLIGHT_CAP),
                )
            )
            if scenario.fairness:
                large, small = run.batches[0], run.batches[-1]
                fairness = FairnessCheck(
                    large.slides, small.slides, large.finished / scale, small.finished / scale
                )
            if not options.naive:
                continue
            env.drain()
            say(f"naive:      {scenario.name}")
            rows.append(_naive_row(env, scenario, f"n{number}", config))
    return rows, fairness


def _naive_row(
    env: BenchEnvironment, scenario: Scenario, tag: str, config: EnvironmentConfig
) -> RunFigures:
    """The seed's way on the same upstream: the baseline's row for ``scenario``."""
    scale = config.time_scale
    naive = run_naive(
        env.fake.openrouter_base,
        BENCH_API_KEY,
        scenario,
        tag,
        time_scale=scale,
        timeout=config.wall_timeout,
    )
    return run_figures(
        name=scenario.name,
        system="naive",
        slides=naive.slides,
        successful=naive.successful,
        makespan=naive.makespan / scale,
        counts=upstream_counts(env.fake.stats()),
        rate=RATE,
        window=WINDOW,
        cap=scenario.naive_cap(),
    )


def _fault_run(options: BenchOptions, root: Path, say: Progress) -> tuple[RunFigures, FaultCheck]:
    scale = options.time_scale
    config = EnvironmentConfig(
        root=root,
        time_scale=scale,
        seed=options.seed,
        fault_rates=FAULT_MIX,
        llm_timeout=FAULT_RUN_TIMEOUT,
        configured_limit=not (options.learn_limit or options.learn_window),
        configured_window=not options.learn_window,
        harsh_upstream=options.learn_limit or options.learn_window,
    )
    scenario = fault_scenario(quick=options.quick)
    with BenchEnvironment(config) as env, httpx.Client(base_url=env.base_url) as client:
        env.fake.reset_stats()
        say(f"slidebatch: {scenario.name}")
        run = run_service(client, scenario, "f", timeout=_RUN_TIMEOUT_WALL)
        stats = env.fake.stats()
        hang = config.wall_timeout / scale
        row = run_figures(
            name=scenario.name,
            system="slidebatch",
            slides=scenario.slides,
            successful=run.successful,
            makespan=run.makespan / scale,
            counts=upstream_counts(stats, hang_latency=hang, overload_wait=OVERLOAD_RETRY_AFTER),
            rate=RATE,
            window=WINDOW,
            cap=scenario.bound_cap(IN_FLIGHT_CAP),
        )
        faults = Counter(str(r["fault"]) for r in stats["requests"] if r["fault"] is not None)
        check = FaultCheck(
            slides=scenario.slides,
            done=run.successful,
            faults=dict(faults),
            retries_logged=count_retries(env.log_dir),
        )
    return row, check


def count_retries(log_dir: Path) -> int:
    """``slide_retry`` events for upstream faults (429 requeues left out) in the pipeline log."""
    count = 0
    for path in sorted(log_dir.glob("pipeline_*.log")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if '"slide_retry"' not in line:
                continue
            event = json.loads(line)
            if event.get("event") != "slide_retry":
                continue
            if (event.get("details") or {}).get("error_kind") != "rate_limited":
                count += 1
    return count
