"""The seed's settings page over slidebatch's settings: its fields, secrets masked.

What the page shows is the environment's settings with the values saved through
``POST /api/config`` on top. Saved values are kept in the database and used by the
connection test; a saved ``llm_chat_model`` is also the model the outline and style routes
call (at the server's upstream, as the seed's page implies); the running image provider
keeps the settings it started with.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slidebatch.config import MAX_LLM_TIMEOUT_SECONDS, Settings

SECRET_FIELDS = ("llm_api_key", "llm_image_api_key")
MASK = "****"


def environment_config(settings: Settings) -> dict[str, Any]:
    """The seed's ``AppConfig`` fields as the environment sets them (secrets in clear)."""
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else ""
    return {
        "llm_api_key": key,
        "llm_api_base": settings.llm_api_base,
        "llm_chat_model": settings.llm_chat_model,
        "llm_image_api_key": "",
        "llm_image_api_base": "",
        "llm_image_model": settings.llm_image_model,
        # Whole seconds, at least 1: the page saves back what it shows (0.4 s is not 0).
        "llm_timeout_seconds": max(1, round(settings.llm_timeout_seconds)),
        "image_output_dir": str(settings.images_dir),
        "pptx_output_dir": "(exports are streamed, never stored)",
        "template_store_path": "(database: templates table)",
        "allowed_origins": list(settings.allowed_origins),
        "project_name": "slidebatch",
        "api_prefix": "/api",
    }


def masked(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` fit to leave the server: each secret as ``****`` and its last 4 characters."""
    shown = dict(config)
    for name in SECRET_FIELDS:
        shown[name] = mask(str(config.get(name) or ""))
    return shown


def mask(secret: str) -> str:
    """Empty stays empty (the page reads it as "no key"); long keys keep 4 characters."""
    if not secret:
        return ""
    return MASK + secret[-4:] if len(secret) >= 16 else MASK


def merged_update(current: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """The values to save: ``update`` over ``current``, a secret sent back masked unchanged."""
    saved: dict[str, Any] = {}
    for name, value in update.items():
        if name in SECRET_FIELDS and isinstance(value, str) and value.startswith(MASK):
            continue
        saved[name] = value
    return saved


def problems(config: Mapping[str, Any]) -> list[str]:
    """What makes ``config`` unusable, one sentence each (empty: valid)."""
    found = []
    if not str(config.get("llm_api_key") or "").strip():
        found.append("llm_api_key is empty: the remote image model cannot be called")
    for name in ("llm_api_base", "llm_image_api_base"):
        base = str(config.get(name) or "")
        if base and not base.startswith(("http://", "https://")):
            found.append(f"{name} must start with http:// or https://")
    timeout = config.get("llm_timeout_seconds")
    if not isinstance(timeout, int) or not 1 <= timeout <= MAX_LLM_TIMEOUT_SECONDS:
        found.append(f"llm_timeout_seconds must be an integer from 1 to {MAX_LLM_TIMEOUT_SECONDS}")
    return found
