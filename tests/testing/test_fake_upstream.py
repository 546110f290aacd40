"""The fake upstream itself: its window, latency, faults, stats, and the loopback server."""

from __future__ import annotations

import asyncio
import random
import statistics
from typing import Any

import httpx
import pytest

from slidebatch.cli.fake_upstream_cmd import parse_fault_rates
from slidebatch.core.aspect import AspectRatio
from slidebatch.core.slide import Slide, SlideType
from slidebatch.errors import TransientProviderError
from slidebatch.providers.base import ImageRequest
from slidebatch.providers.openrouter import OpenRouterProvider
from slidebatch.testing.clock import FakeClock
from slidebatch.testing.fake_behaviour import COMMON_FAULTS, LatencyModel, SlidingWindow
from slidebatch.testing.fake_upstream import (
    FakeUpstreamConfig,
    FakeUpstreamServer,
    Fault,
    create_fake_upstream,
)

CHAT = "/api/v1/chat/completions"


def chat_body(prompt: str = "slide", ratio: str = "16:9") -> dict[str, Any]:
    return {
        "model": "m",
        "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]}],
        "modalities": ["image", "text"],
        "image_config": {"aspect_ratio": ratio, "image_size": "1K"},
    }


def client_for(
    config: FakeUpstreamConfig, clock: FakeClock | None = None, *, wall: float = 1.7e9
) -> httpx.AsyncClient:
    app = create_fake_upstream(config, clock=clock, wall=lambda: wall)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fake")


def no_latency(**values: Any) -> FakeUpstreamConfig:
    return FakeUpstreamConfig(latency_median=0.0, latency_p95=0.0, **values)


async def test_the_window_admits_rpm_then_answers_429_with_headers() -> None:
    """rpm=3: three answers, then 429 with Retry-After ~ the window and X-RateLimit-* headers."""
    async with client_for(no_latency(rpm=3, window_seconds=60)) as client:
        answers = [await client.post(CHAT, json=chat_body()) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["x-ratelimit-remaining"] for a in answers[:3]] == ["2", "1", "0"]
    limited = answers[3]
    assert 59 < float(limited.headers["retry-after"]) <= 60
    assert limited.headers["x-ratelimit-limit"] == "3"
    assert limited.json()["error"]["code"] == 429


async def test_time_scale_shrinks_the_window_and_retry_after() -> None:
    """time_scale=0.01 makes a 60 s window a 0.6 s one: Retry-After says so."""
    config = no_latency(rpm=1, window_seconds=60, time_scale=0.01)
    async with client_for(config, FakeClock(autojump=False)) as client:
        await client.post(CHAT, json=chat_body())
        limited = await client.post(CHAT, json=chat_body())
    assert float(limited.headers["retry-after"]) == pytest.approx(0.6)


async def test_the_window_slides_with_the_injected_clock() -> None:
    """After the window passes (virtual time), a slot frees; the stats keep every arrival."""
    clock = FakeClock(autojump=False)
    async with client_for(no_latency(rpm=2, window_seconds=60), clock) as client:
        assert (await client.post(CHAT, json=chat_body())).status_code == 200
        clock.advance(30)
        assert (await client.post(CHAT, json=chat_body())).status_code == 200
        clock.advance(20)
        assert (await client.post(CHAT, json=chat_body())).status_code == 429
        clock.advance(10.5)  # the first request left the window
        assert (await client.post(CHAT, json=chat_body())).status_code == 200
        stats = (await client.get("/stats")).json()
    assert [round(r["arrival"], 3) for r in stats["requests"]] == [0, 30, 50, 60.5]
    assert stats["totals"]["rate_limited"] == 1


async def test_epoch_ms_reset_style_matches_openrouter() -> None:
    """reset_style="epoch_ms" sends X-RateLimit-Reset as epoch milliseconds."""
    clock = FakeClock(autojump=False)
    config = no_latency(rpm=5, reset_style="epoch_ms")
    async with client_for(config, clock, wall=1_700_000_000.0) as client:
        answer = await client.post(CHAT, json=chat_body())
    assert int(answer.headers["x-ratelimit-reset"]) == 1_700_000_060_000


async def test_rejected_requests_count_only_when_configured() -> None:
    """By default 429s do not use up the window; with count_rejected they do."""
    clock = FakeClock(autojump=False)
    for count_rejected, expected in ((False, 200), (True, 429)):
        async with client_for(
            no_latency(rpm=1, window_seconds=10, count_rejected=count_rejected), clock
        ) as client:
            await client.post(CHAT, json=chat_body())  # t=0 admitted
            clock.advance(5)
            await client.post(CHAT, json=chat_body())  # t=5 rejected
            clock.advance(6)  # t=11: the first left the window
            assert (await client.post(CHAT, json=chat_body())).status_code == expected


async def test_headers_only_on_429_like_openrouter() -> None:
    """limit_headers="on_429": successes carry no figures; the 429 carries them twice."""
    config = no_latency(rpm=1, limit_headers="on_429", retry_after=False, reset_style="epoch_ms")
    async with client_for(config) as client:
        ok = await client.post(CHAT, json=chat_body())
        refused = await client.post(CHAT, json=chat_body())
    assert "x-ratelimit-limit" not in ok.headers
    assert refused.status_code == 429
    assert "retry-after" not in refused.headers
    assert refused.headers["x-ratelimit-remaining"] == "0"
    copied = refused.json()["error"]["metadata"]["headers"]
    assert copied["X-RateLimit-Reset"] == refused.headers["x-ratelimit-reset"]


async def test_requests_per_day_limit() -> None:
    """rpd caps accepted requests per (scaled) day."""
    async with client_for(no_latency(rpm=None, rpd=2)) as client:
        codes = [(await client.post(CHAT, json=chat_body())).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_latency_has_the_asked_median_and_p95_and_is_seeded() -> None:
    """Lognormal draws land on the configured median and p95; the same seed draws the same."""
    model = LatencyModel(9.0, 20.0, random.Random(1), None)
    draws = sorted(model.draw() for _ in range(20000))
    assert statistics.median(draws) == pytest.approx(9.0, rel=0.05)
    assert draws[int(0.95 * len(draws))] == pytest.approx(20.0, rel=0.07)
    again = LatencyModel(9.0, 20.0, random.Random(1), None)
    first = LatencyModel(9.0, 20.0, random.Random(1), None)
    assert [again.draw() for _ in range(5)] == [first.draw() for _ in range(5)]


async def test_latency_is_slept_scaled_and_recorded_unscaled() -> None:
    """An accepted request sleeps latency*time_scale; /stats has the drawn (unscaled) latency."""
    clock = FakeClock(autojump=False)
    config = FakeUpstreamConfig(rpm=None, latency_median=9.0, latency_p95=20.0, time_scale=0.5)
    async with client_for(config, clock) as client:
        answer = asyncio.ensure_future(client.post(CHAT, json=chat_body()))
        for _ in range(10_000):  # step virtual time until the answer's deadline passes
            if answer.done():
                break
            clock.advance(0.01)
            for _ in range(5):
                await asyncio.sleep(0)
        assert answer.result().status_code == 200
        stats = (await client.get("/stats")).json()
    row = stats["requests"][0]
    assert row["latency_drawn"] > 0
    assert row["latency_wall"] == pytest.approx(row["latency_drawn"] * 0.5, abs=0.011)
    unscaled = row["end_unscaled"] - row["start_unscaled"]
    assert unscaled == pytest.approx(row["latency_drawn"], abs=0.022)
    assert stats["totals"]["latency_drawn_max"] == row["latency_drawn"]


async def test_fault_rates_are_seeded_and_do_not_change_latencies() -> None:
    """About the configured share fails; the same seed gives the same faults and latencies."""

    async def run(rates: dict[Fault, float]) -> tuple[list[int], list[float]]:
        config = FakeUpstreamConfig(
            rpm=None,
            latency_median=1.0,
            latency_p95=2.0,
            fault_rates=rates,
            seed=7,
            time_scale=1e-5,  # 10 microseconds of real sleep per upstream second
        )
        async with client_for(config) as client:
            codes = [(await client.post(CHAT, json=chat_body())).status_code for _ in range(200)]
            rows = (await client.get("/stats")).json()["requests"]
        return codes, [r["latency_drawn"] for r in rows]

    codes, latencies = await run({Fault.ERROR_500: 0.3})
    again, _ = await run({Fault.ERROR_500: 0.3})
    _, clean_latencies = await run({})
    assert codes == again
    assert 40 <= codes.count(500) <= 80
    assert latencies == clean_latencies


async def test_forced_outcomes_and_markers_script_the_answers() -> None:
    """The forced queue goes first in order; a prompt marker picks a fault; None is success."""
    app = create_fake_upstream(no_latency(rpm=None))
    app.state.fake.force(Fault.ERROR_502, None, Fault.ERROR_503)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://f") as c:
        codes = [(await c.post(CHAT, json=chat_body())).status_code for _ in range(3)]
        marked = await c.post(CHAT, json=chat_body("x [[fake:content_policy]]"))
        forced = await c.post("/control/force", json={"outcomes": ["500"]})
        after = await c.post(CHAT, json=chat_body())
    assert codes == [502, 200, 503]
    assert marked.status_code == 403
    assert forced.json() == {"queued": 1}
    assert after.status_code == 500


async def test_stats_totals_and_reset() -> None:
    """/stats counts requests by status and outcome; POST /stats/reset empties it."""
    async with client_for(no_latency(rpm=1, expected_api_key="k")) as client:
        await client.post(CHAT, json=chat_body(), headers={"authorization": "Bearer k"})
        await client.post(CHAT, json=chat_body(), headers={"authorization": "Bearer k"})
        await client.post(CHAT, json=chat_body(), headers={"authorization": "Bearer nope"})
        await client.post(CHAT, content=b"{", headers={"authorization": "Bearer k"})
        totals = (await client.get("/stats")).json()["totals"]
        await client.post("/stats/reset")
        after = (await client.get("/stats")).json()
    assert totals["by_status"] == {"200": 1, "429": 1, "401": 1, "400": 1}
    assert totals["by_outcome"] == {"ok": 1, "rate_limited": 1, "unauthorized": 1, "bad_request": 1}
    assert totals["accepted"] == 1
    assert after["requests"] == []
    assert after["config"]["expected_api_key"] == "****"


@pytest.mark.parametrize(
    ("path", "body", "size"),
    [
        (CHAT, chat_body(ratio="9:16"), (768, 1344)),
        (
            "/v1beta/models/gemini-x:generateContent",
            {
                "contents": [{"parts": [{"text": "p"}]}],
                "generationConfig": {"imageConfig": {"aspectRatio": "4:3", "imageSize": "2K"}},
            },
            (2368, 1728),
        ),
        (
            "/v1/images/generations",
            {"model": "g", "prompt": "p", "size": "1024x1536"},
            (1024, 1536),
        ),
    ],
)
async def test_answers_are_real_pngs_at_the_asked_size(
    path: str, body: dict[str, Any], size: tuple[int, int]
) -> None:
    """Each dialect answers a PNG of the pixel size its request asks for."""
    import base64
    import io

    from PIL import Image

    async with client_for(no_latency(rpm=None)) as client:
        answer = (await client.post(path, json=body)).json()
    if "choices" in answer:
        encoded = answer["choices"][0]["message"]["images"][-1]["image_url"]["url"].split(",")[1]
    elif "candidates" in answer:
        encoded = answer["candidates"][0]["content"]["parts"][-1]["inlineData"]["data"]
    else:
        encoded = answer["data"][-1]["b64_json"]
    with Image.open(io.BytesIO(base64.b64decode(encoded))) as image:
        assert image.format == "PNG"
        assert image.size == size


def test_sliding_window_wait_is_the_time_until_a_slot_frees() -> None:
    """With the window full, wait() is the oldest admission's expiry."""
    window = SlidingWindow(2, 10.0)
    window.record(0.0)
    window.record(4.0)
    assert window.wait(5.0) == 5.0
    assert window.wait(10.0) == 0.0
    assert window.remaining(10.0) == 1


def test_cli_fault_rates_parse() -> None:
    """KIND=RATE pairs parse; a bare rate spreads over the common faults; junk raises."""
    assert parse_fault_rates(["503=0.05", "hang=0.01"]) == {Fault.ERROR_503: 0.05, Fault.HANG: 0.01}
    spread = parse_fault_rates(["0.12"])
    assert set(spread) == set(COMMON_FAULTS)
    assert sum(spread.values()) == pytest.approx(0.12)
    with pytest.raises(ValueError, match="nope"):
        parse_fault_rates(["nope=0.1"])


@pytest.mark.slow
async def test_the_server_runs_on_loopback_for_real() -> None:
    """FakeUpstreamServer serves a real provider over sockets, a hang times out, stats agree."""
    config = FakeUpstreamConfig(rpm=5, latency_median=0.02, latency_p95=0.05, expected_api_key="k")
    slide = Slide(id="s", page_num=1, type=SlideType.COVER, title="T")
    request = ImageRequest(
        prompt="p", slide=slide, style_prompt="", aspect_ratio=AspectRatio(16, 9)
    )
    with FakeUpstreamServer(config) as server:
        async with httpx.AsyncClient() as client:
            provider = OpenRouterProvider(
                client, api_key="k", base_url=server.openrouter_base, model="m", timeout=0.5
            )
            result = await provider.generate(request)
            server.force(Fault.HANG)
            with pytest.raises(TransientProviderError) as caught:
                await provider.generate(request)
            over_http = (await client.get(f"{server.base_url}/stats")).json()
    assert (result.width, result.height) == (1344, 768)
    assert caught.value.overload  # the client's own timeout ended the hang
    stats = server.stats()
    assert stats["totals"]["requests"] == over_http["totals"]["requests"] == 2
    assert stats["requests"][0]["status"] == 200
    assert stats["requests"][1]["fault"] == "hang"


async def test_rate_limit_headers_are_those_of_the_moment_the_answer_is_sent() -> None:
    """A 10 s answer to the first request says the window resets in 50 s, not 60 s."""
    clock = FakeClock()
    config = FakeUpstreamConfig(rpm=2, window_seconds=60, latency_median=10.0, latency_p95=10.0)
    async with client_for(config, clock, wall=1_700_000_000.0) as client:
        answer = await client.post(CHAT, json=chat_body())
    assert clock.now() == pytest.approx(10.0)
    # OpenRouter's own format by default: epoch milliseconds (the pinned wall clock + 50 s).
    assert int(answer.headers["x-ratelimit-reset"]) == 1_700_000_050_000
    assert answer.headers["x-ratelimit-remaining"] == "1"


@pytest.mark.parametrize("fault", [Fault.RATE_LIMIT, Fault.QUOTA_DAILY, Fault.NO_CREDITS])
async def test_a_rate_drawn_refusal_answers_like_the_forced_one(fault: Fault) -> None:
    """--fault-rate quota_daily=1 (or no_credits, 429) answers as the forced fault does."""
    forced_app = create_fake_upstream(no_latency(rpm=None))
    forced_app.state.fake.force(fault)
    transport = httpx.ASGITransport(app=forced_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://f") as client:
        forced = await client.post(CHAT, json=chat_body())
    async with client_for(no_latency(rpm=None, fault_rates={fault: 1.0})) as client:
        drawn = await client.post(CHAT, json=chat_body())
    assert forced.status_code in (402, 429)
    assert drawn.status_code == forced.status_code
    assert drawn.json()["error"]["code"] == forced.json()["error"]["code"]


def test_fake_upstream_command_refuses_an_unknown_dialect() -> None:
    """``slidebatch fake-upstream --dialect nope`` stops with one line naming the problem."""
    from typer.testing import CliRunner

    from slidebatch.cli import app

    result = CliRunner().invoke(app, ["fake-upstream", "--dialect", "nope", "--port", "0"])
    assert result.exit_code == 2
    assert "Dialect" in result.output
