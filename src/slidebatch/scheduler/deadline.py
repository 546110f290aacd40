"""The one deadline of an upstream call (``LLM_TIMEOUT_SECONDS``), on the injected clock.

The dispatcher and a fleet worker bound each image attempt with it (:func:`call_provider`)
and the chat helpers (``assist.chat``) their whole answer, so a slow upstream ends the same
way everywhere: the call is cancelled and an overload ``TransientProviderError`` says how
long it was given, whatever was slow (the answer, a download, a decode, a stream that never
ends).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TypeVar

from slidebatch.errors import ProviderError, TransientProviderError
from slidebatch.observability.pipeline_log import EventLog
from slidebatch.providers.base import ImageProvider, ImageRequest, ImageResult
from slidebatch.scheduler.clock import Clock

T = TypeVar("T")


async def within_deadline(
    call: Coroutine[object, object, T],
    *,
    clock: Clock,
    seconds: float,
    message: str | None = None,
) -> T:
    """``call``'s result, or an overload ``TransientProviderError`` once ``seconds`` pass.

    The call is cancelled when the deadline fires (or when the caller is cancelled).
    ``message`` is the error's text (default ``no answer within <seconds> s``). Exceptions of
    ``call`` pass through.
    """
    task = asyncio.ensure_future(call)
    timer = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
    if task.cancelled():
        raise TransientProviderError(message or f"no answer within {seconds:g} s", overload=True)
    return task.result()


async def call_provider(
    provider: ImageProvider,
    request: ImageRequest,
    *,
    clock: Clock,
    seconds: float,
    log: EventLog,
) -> ImageResult:
    """One image attempt: ``provider.generate(request)`` within ``seconds`` on ``clock``.

    Raises the provider's ``ProviderError`` as it is, an overload ``TransientProviderError``
    when the deadline fires, and a ``TransientProviderError`` for anything unexpected (logged
    once as ``provider_unexpected_error``), so a bug in a provider is retried, never fatal.
    """
    try:
        return await within_deadline(provider.generate(request), clock=clock, seconds=seconds)
    except ProviderError:
        raise
    except Exception as error:
        log.failure("provider_unexpected_error", error, provider=provider.name)
        raise TransientProviderError(
            f"unexpected {type(error).__name__} from provider {provider.name}"
        ) from error
