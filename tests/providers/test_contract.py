"""Contract tests: every provider through the fake upstream, success and every fault kind."""

from __future__ import annotations

import io
import logging

import httpx
import pytest
from PIL import Image
from provider_rig import KEY, REMOTE, ask, assert_real_image, rig, served_ratio

from slidebatch.config import AspectMismatchPolicy
from slidebatch.core.aspect import AspectRatio
from slidebatch.errors import (
    PermanentProviderError,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    Refused,
    TransientProviderError,
)
from slidebatch.providers.base import ImageProvider
from slidebatch.providers.local import LocalRenderer
from slidebatch.scheduler.clock import SystemClock
from slidebatch.scheduler.deadline import within_deadline
from slidebatch.testing.fake_upstream import FakeUpstreamConfig, Fault


@pytest.mark.parametrize("name", ["openrouter", "gemini", "openai", "local"])
@pytest.mark.parametrize("ratio", ["16:9", "1:1", "9:16"])
async def test_success_returns_a_decoded_image_at_the_asked_ratio(name: str, ratio: str) -> None:
    """Every provider returns a decodable PNG whose pixel size has the ratio it was asked for."""
    if name == "local":
        local: ImageProvider = LocalRenderer(long_side=320)
        result = await local.generate(ask(ratio))
        assert_real_image(result, AspectRatio.parse(ratio))
        assert local.credential_id == "local"
        return
    async with rig(name) as r:
        result = await r.provider.generate(ask(ratio))
    assert_real_image(result, served_ratio(name, ratio))
    assert result.latency_s >= 0
    assert result.upstream_request_id
    assert isinstance(r.provider, ImageProvider)


async def test_gemini_sizes_follow_the_upstream_table() -> None:
    """16:9 at 1K comes back 1344x768, as SPEC section 5 lists."""
    async with rig("gemini") as r:
        result = await r.provider.generate(ask("16:9"))
    assert (result.width, result.height) == (1344, 768)


FAULT_ERRORS: list[tuple[Fault, type[ProviderError]]] = [
    (Fault.RATE_LIMIT, RateLimited),
    (Fault.ERROR_500, TransientProviderError),
    (Fault.ERROR_502, TransientProviderError),
    (Fault.ERROR_503, TransientProviderError),
    (Fault.HANG, TransientProviderError),
    (Fault.MALFORMED, TransientProviderError),
    (Fault.ERROR_IN_200, TransientProviderError),
    (Fault.NO_IMAGE, TransientProviderError),
    (Fault.WRONG_ASPECT, TransientProviderError),
    (Fault.CONTENT_POLICY, Refused),
    (Fault.REFUSED, Refused),
    (Fault.QUOTA_DAILY, QuotaExhausted),
    (Fault.NO_CREDITS, QuotaExhausted),
    (Fault.HUGE_IMAGE, PermanentProviderError),
]


@pytest.mark.parametrize("name", list(REMOTE))
@pytest.mark.parametrize(
    ("fault", "error_class"), FAULT_ERRORS, ids=[str(f) for f, _ in FAULT_ERRORS]
)
async def test_each_fault_maps_to_its_error_class(
    name: str, fault: Fault, error_class: type[ProviderError]
) -> None:
    """A forced fault raises exactly the typed error the scheduler expects, with a clear text."""
    config = FakeUpstreamConfig(
        rpm=None, latency_median=0.0, latency_p95=0.0, expected_api_key=KEY, time_scale=0.01
    )
    async with rig(name, config, attempt_timeout=0.3) as r:
        r.fake.force(fault)
        with pytest.raises(error_class) as caught:
            await r.attempt(ask())
    error = caught.value
    assert type(error) is error_class
    assert KEY not in str(error)
    assert KEY not in repr(error)
    if fault in (Fault.ERROR_503, Fault.HANG):
        assert isinstance(error, TransientProviderError)
        assert error.overload
    if fault is Fault.ERROR_503:
        assert error.retry_after == pytest.approx(0.05)
    if fault is Fault.RATE_LIMIT:
        assert error.retry_after is not None
        assert error.retry_after > 0
    if fault in (Fault.CONTENT_POLICY, Fault.REFUSED):
        assert "refused to draw this slide" in str(error)
    if fault is Fault.NO_IMAGE:
        assert "no image" in str(error)


@pytest.mark.parametrize("name", list(REMOTE))
async def test_a_hang_ends_at_the_dispatchers_deadline_with_its_message(name: str) -> None:
    """The provider has no deadline of its own: a hang ends at the attempt's, with its text."""
    config = FakeUpstreamConfig(rpm=None, latency_median=0.0, latency_p95=0.0, time_scale=0.01)
    async with rig(name, config, attempt_timeout=0.05) as r:  # the provider's `timeout`
        r.fake.force(Fault.HANG)
        call = r.provider.generate(ask())
        with pytest.raises(TransientProviderError) as caught:
            await within_deadline(call, clock=SystemClock(), seconds=0.3)
    assert str(caught.value) == "no answer within 0.3 s"
    assert caught.value.overload


@pytest.mark.parametrize("name", list(REMOTE))
async def test_a_fault_marker_in_the_prompt_scripts_the_answer(name: str) -> None:
    """``[[fake:500]]`` in the prompt makes that request fail; the next one succeeds."""
    async with rig(name) as r:
        with pytest.raises(TransientProviderError, match="HTTP 500"):
            await r.provider.generate(ask(prompt="slide [[fake:500]]"))
        assert (await r.provider.generate(ask())).width > 0


@pytest.mark.parametrize("name", list(REMOTE))
async def test_wrong_aspect_is_a_warning_when_configured(name: str) -> None:
    """Under LLM_ASPECT_MISMATCH=warn a wrong-ratio image is kept and the result says why."""
    async with rig(name, policy=AspectMismatchPolicy.WARN) as r:
        r.fake.force(Fault.WRONG_ASPECT)
        result = await r.provider.generate(ask())
    assert not served_ratio(name, "16:9").matches(result.width, result.height)
    assert any("not the requested" in warning for warning in result.warnings)


@pytest.mark.parametrize("name", list(REMOTE))
async def test_draft_then_final_takes_the_last_image(name: str) -> None:
    """With a draft sent first, the provider returns the final image (size and colour)."""
    async with rig(name) as r:
        r.fake.force(Fault.DRAFT_THEN_FINAL)
        result = await r.provider.generate(ask())
    assert served_ratio(name, "16:9").matches(result.width, result.height)
    with Image.open(io.BytesIO(result.data)) as image:
        assert image.convert("RGB").getpixel((0, 0)) == (32, 64, 128)  # the final's colour


async def test_openrouter_records_the_cost() -> None:
    """``usage.cost`` becomes ``ImageResult.cost``."""
    config = FakeUpstreamConfig(rpm=None, latency_median=0.0, latency_p95=0.0, cost_per_image=0.04)
    async with rig("openrouter", config) as r:
        result = await r.provider.generate(ask())
    assert result.cost == pytest.approx(0.04)


@pytest.mark.parametrize("name", ["openrouter", "openai"])
async def test_rate_limit_carries_retry_after_and_the_header_figures(name: str) -> None:
    """Past the window's limit the provider raises RateLimited with its dialect's header figures."""
    config = FakeUpstreamConfig(rpm=1, window_seconds=60, latency_median=0.0, latency_p95=0.0)
    async with rig(name, config) as r:
        first = await r.provider.generate(ask())
        with pytest.raises(RateLimited) as caught:
            await r.provider.generate(ask())
    assert first.rate_limit.limit == 1
    assert first.rate_limit.remaining == 0
    error = caught.value
    assert error.limit == 1
    assert error.remaining == 0
    assert error.retry_after is not None
    assert 59 < error.retry_after <= 60
    assert error.reset_after is not None
    assert 59 < error.reset_after <= 60


async def test_gemini_rate_limit_is_retry_info_alone() -> None:
    """Gemini sends no rate-limit headers: the wait comes from RetryInfo.retryDelay only."""
    config = FakeUpstreamConfig(rpm=1, window_seconds=60, latency_median=0.0, latency_p95=0.0)
    async with rig("gemini", config) as r:
        first = await r.provider.generate(ask())
        with pytest.raises(RateLimited) as caught:
            await r.provider.generate(ask())
    assert (first.rate_limit.limit, first.rate_limit.remaining) == (None, None)
    error = caught.value
    assert (error.limit, error.remaining) == (None, None)
    assert error.retry_after is not None
    assert 59 < error.retry_after <= 60


@pytest.mark.parametrize("name", list(REMOTE))
async def test_a_wrong_key_is_permanent_and_never_echoed(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The upstream echoes the bad key; the error says the key was rejected, without the key."""
    wrong = "sk-wrong-key-00112233445566778899"
    caplog.set_level(logging.DEBUG)
    async with rig(name, key=wrong) as r:
        with pytest.raises(PermanentProviderError) as caught:
            await r.provider.generate(ask())
    message = str(caught.value)
    assert "rejected the API key" in message
    assert wrong not in message
    assert wrong not in repr(caught.value)
    assert wrong not in repr(r.provider)
    assert caplog.records, "the failed attempt is logged"
    for record in caplog.records:
        assert wrong not in record.getMessage()
        assert wrong not in str(record.__dict__)


@pytest.mark.parametrize("name", list(REMOTE))
async def test_the_key_never_reaches_a_log_record_or_repr(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Across successes and every fault, no log record, error or repr contains the key."""
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    async with rig(name, attempt_timeout=0.3) as r:
        texts.append(repr(r.provider))
        texts.append(r.provider.credential_id)
        for fault, _ in [(None, None), *FAULT_ERRORS]:
            r.fake.force(fault)
            try:
                texts.append(repr(await r.attempt(ask())))
            except ProviderError as error:
                texts += [str(error), repr(error), repr(error.__cause__)]
    texts += [record.getMessage() + str(record.__dict__) for record in caplog.records]
    assert len(caplog.records) >= len(FAULT_ERRORS)
    assert all(KEY not in text for text in texts)
    # A provider writes no log of its own (httpx's request lines are the records here): the
    # engine's event is the attempt's one record (tests/engine: a 429 is one record).
    assert not [r for r in caplog.records if r.name.startswith("slidebatch")]


@pytest.mark.parametrize("name", list(REMOTE))
async def test_transport_failures_are_transient(name: str) -> None:
    """A refused connection is transient; a read timeout is transient with overload set."""
    cls, prefix = REMOTE[name]
    for raised, overload in (
        (httpx.ConnectError("refused"), False),
        (httpx.ReadTimeout("t"), True),
    ):

        def fail(request: httpx.Request, raised: Exception = raised) -> httpx.Response:
            raise raised

        async with httpx.AsyncClient(transport=httpx.MockTransport(fail)) as client:
            provider = cls(client, api_key=KEY, base_url=f"http://x{prefix}", model="m")
            with pytest.raises(TransientProviderError) as caught:
                await provider.generate(ask())
        assert caught.value.overload is overload
        assert isinstance(caught.value.__cause__, httpx.HTTPError)
