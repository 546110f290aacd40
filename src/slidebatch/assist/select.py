"""Which chat model the helpers use: the configured provider's, or none (the offline method).

OpenRouter and OpenAI speak chat completions with the same key as their images; Gemini and
the local renderer have no chat endpoint here, so they fall back to the offline method.
"""

from __future__ import annotations

from slidebatch.assist.chat import ChatModel
from slidebatch.config import ProviderName, Settings
from slidebatch.scheduler.clock import Clock


def chat_model_for(settings: Settings, clock: Clock, model: str | None = None) -> ChatModel | None:
    """The chat model to call (its deadline on ``clock``), or ``None`` when offline.

    ``model`` names another model at the same upstream (the settings page's saved one);
    without it, ``LLM_CHAT_MODEL``.
    """
    provider = settings.provider
    if provider is ProviderName.OPENROUTER and settings.llm_api_key is not None:
        key, base = settings.llm_api_key, settings.llm_api_base
    elif provider is ProviderName.OPENAI and settings.openai_api_key is not None:
        key, base = settings.openai_api_key, settings.openai_api_base
    else:
        return None
    secret = key.get_secret_value()
    if not secret:
        return None
    return ChatModel(
        base_url=base,
        model=model or settings.llm_chat_model,
        api_key=secret,
        timeout=settings.llm_timeout_seconds,
        clock=clock,
    )
