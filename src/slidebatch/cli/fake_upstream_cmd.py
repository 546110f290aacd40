"""``slidebatch fake-upstream``: serve the fake upstream in the foreground for manual runs."""

from __future__ import annotations

from typing import Annotated

import typer

from slidebatch.cli.output import fail
from slidebatch.testing.fake_behaviour import (
    COMMON_FAULTS,
    Dialect,
    FakeUpstreamConfig,
    Fault,
    ImageFormat,
)

# Options with long help, declared here so the command's signature stays short.
FaultRates = Annotated[
    list[str],
    typer.Option(
        help="KIND=RATE (e.g. 503=0.05, hang=0.01), or a bare RATE spread over 5xx/malformed."
    ),
]
DialectOption = Annotated[
    str,
    typer.Option(
        help="Where chat answers put the image: images, content_parts, markdown; "
        "thought_drafts makes Gemini send a thought draft first."
    ),
]
RefusalReason = Annotated[
    str,
    typer.Option(
        help="The reason a 'refused' fault gives (IMAGE_SAFETY, SPII, moderation_blocked...)."
    ),
]
CountRejected = Annotated[
    bool,
    typer.Option(help="Count refused (429) requests against the window, as harsh upstreams do."),
]
LimitHeaders = Annotated[
    str, typer.Option(help="When to send the rate-limit figures: always, on_429 or never.")
]
ResetStyleOption = Annotated[
    str,
    typer.Option(
        help="Reset format: seconds, epoch_s, epoch_ms, duration or http_date (http_date also "
        "dates Retry-After). Default: each shape's own (OpenRouter epoch_ms, OpenAI duration)."
    ),
]
RetryAfter = Annotated[bool, typer.Option(help="Send Retry-After with 429 answers.")]
MalformedOption = Annotated[
    str, typer.Option(help="Hostile rate-limit figures: garbage, negative or past_reset.")
]
StripOption = Annotated[
    bool, typer.Option(help="Act as a relay that drops every rate-limit header (bodies pass).")
]


def parse_fault_rates(items: list[str]) -> dict[Fault, float]:
    """``["503=0.05", "hang=0.01"]`` -> rates; a bare ``"0.1"`` is spread over the common faults."""
    rates: dict[Fault, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            share = float(name) / len(COMMON_FAULTS)
            for fault in COMMON_FAULTS:
                rates[fault] = rates.get(fault, 0.0) + share
            continue
        rates[Fault(name.strip())] = rates.get(Fault(name.strip()), 0.0) + float(value)
    return rates


def fake_upstream(
    host: str = typer.Option("127.0.0.1", help="Address to bind."),
    port: int = typer.Option(8900, help="Port to bind."),
    rpm: int = typer.Option(20, help="Accepted requests per window (0: no limit)."),
    window: float = typer.Option(60.0, help="Rate window in upstream seconds."),
    rpd: int = typer.Option(0, help="Accepted requests per day (0: no limit)."),
    latency_median: float = typer.Option(9.0, help="Median latency, upstream seconds."),
    latency_p95: float = typer.Option(20.0, help="95th percentile latency, upstream seconds."),
    time_scale: float = typer.Option(1.0, help="Wall seconds per upstream second."),
    seed: int = typer.Option(1, help="Seed for latency and faults."),
    fault_rate: FaultRates = [],  # noqa: B006  # typer reads the default, never mutates it
    api_key: str = typer.Option(
        "", envvar="FAKE_UPSTREAM_API_KEY", help="Answer 401 unless this key is sent."
    ),
    dialect: DialectOption = "images",
    image_format: str = typer.Option("png", help="Image bytes sent: png, jpeg or webp."),
    refusal_reason: RefusalReason = "",
    count_rejected: CountRejected = False,
    limit_headers: LimitHeaders = "always",
    reset_style: ResetStyleOption = "",
    retry_after: RetryAfter = True,
    malformed_limit_headers: MalformedOption = "",
    strip_limit_headers: StripOption = False,
) -> None:
    """Serve OpenRouter-, Gemini- and OpenAI-shaped endpoints with limits, latency and faults."""
    # Imported here: the CLI starts fast and the app is only built when this command runs.
    import uvicorn

    from slidebatch.testing.fake_upstream import create_fake_upstream

    try:
        config = FakeUpstreamConfig(
            rpm=rpm or None,
            window_seconds=window,
            rpd=rpd or None,
            latency_median=latency_median,
            latency_p95=latency_p95,
            time_scale=time_scale,
            seed=seed,
            expected_api_key=api_key or None,
            fault_rates=parse_fault_rates(fault_rate),
            dialect=Dialect(dialect),
            image_format=ImageFormat(image_format),
            refusal_reason=refusal_reason or None,
            count_rejected=count_rejected,
            limit_headers=limit_headers,  # type: ignore[arg-type]  # checked by the config
            reset_style=reset_style or None,  # type: ignore[arg-type]
            retry_after=retry_after,
            malformed_limit_headers=malformed_limit_headers or None,  # type: ignore[arg-type]
            strip_limit_headers=strip_limit_headers,
        )
    except ValueError as exc:  # also an unknown fault name or a rate that is not a number
        fail(f"invalid fake-upstream option: {exc}")
    base = f"http://{host}:{port}"
    typer.echo(
        f"LLM_API_BASE={base}/api/v1  GEMINI_API_BASE={base}/v1beta  OPENAI_API_BASE={base}/v1"
    )
    typer.echo(f"stats: {base}/stats")
    uvicorn.run(create_fake_upstream(config), host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    app.command("fake-upstream")(fake_upstream)
