"""Settings: environment and ``.env``, with the seed's names and defaults.

Three levels decide a value: the request (``max_workers``) > the server's limits here >
the environment / ``.env``. Settings are built in ``main()`` / ``create_app()``, never at
import time. Invalid combinations fail at start with one line naming the settings.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from slidebatch.core.aspect import ImageSize
from slidebatch.core.pixels import DEFAULT_MAX_PIXELS
from slidebatch.errors import ConfigError

# LLM_TIMEOUT_SECONDS' range; the settings page (whole seconds) accepts the same one, so it
# can save back what it shows.
MAX_LLM_TIMEOUT_SECONDS = 3600


class ProviderName(StrEnum):
    AUTO = "auto"
    LOCAL = "local"
    OPENROUTER = "openrouter"
    GEMINI = "gemini"
    OPENAI = "openai"


class AspectMismatchPolicy(StrEnum):
    RETRY = "retry"  # a wrong-ratio image is a transient failure: ask again
    WARN = "warn"  # keep it, log a warning


Positive = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
# A Google Cloud project id ("my-project-123", "example.com:my-project") or number.
GoogleProjectId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.:-]{0,99}$")]


class Settings(BaseSettings):
    """Every knob of slidebatch; names are the environment variables, upper-cased."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # --- batches (seed names) ---
    # The seed's default was 5; "auto" is what SPEC section 1 promises for an absent
    # max_workers (the scheduler decides), so no one has to tune. Set 5 for the seed's way.
    batch_default_workers: Positive | Literal["auto"] = "auto"
    batch_max_workers: Positive = 20
    batch_max_concurrent: Positive = 10
    batch_cleanup_hours: PositiveFloat = 24.0
    batch_max_slides: Positive = 200

    # --- upstream (seed names for OpenRouter) ---
    image_provider: ProviderName = ProviderName.AUTO
    # Further providers (comma-separated) a slide moves to when one is out of quota or refuses.
    image_provider_fallback: Annotated[list[ProviderName], NoDecode] = Field(default_factory=list)
    llm_api_key: SecretStr | None = None
    llm_api_base: str = "https://openrouter.ai/api/v1"
    llm_image_model: str = "google/gemini-3-pro-image-preview"
    llm_image_size: ImageSize = ImageSize.K1
    llm_timeout_seconds: Annotated[float, Field(gt=0, le=MAX_LLM_TIMEOUT_SECONDS)] = 120.0
    llm_aspect_mismatch: AspectMismatchPolicy = AspectMismatchPolicy.RETRY
    gemini_api_key: SecretStr | None = None
    gemini_api_base: str = "https://generativelanguage.googleapis.com/v1beta"
    gemini_image_model: str = "gemini-3-pro-image-preview"
    # The Google Cloud project GEMINI_API_KEY belongs to. Gemini counts its limits per
    # project (and model), not per key: every process whose key is declared in one project
    # shares one gate scope (scheduler/scope.py). None: the key is its own scope.
    gemini_project_id: GoogleProjectId | None = None
    openai_api_key: SecretStr | None = None
    openai_api_base: str = "https://api.openai.com/v1"
    openai_image_model: str = "gpt-image-1"
    # The text/vision model behind style analysis and outlines (slidebatch style / outline),
    # called through the configured provider's chat endpoint; none: the offline method.
    llm_chat_model: str = "google/gemini-2.5-flash"
    image_download_max_bytes: Positive = 40 * 1024 * 1024
    # USD per image for estimates until the provider's reported usage.cost has been measured.
    upstream_price_per_image: PositiveFloat | None = None
    # One pixel cap for upstream images and exports, read from the header before decoding.
    image_max_pixels: Positive = DEFAULT_MAX_PIXELS
    # Image URLs are fetched only from the upstream's host and these (names or parent domains,
    # comma-separated), and never from loopback, link-local, private or reserved addresses.
    image_download_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Every upstream answer is streamed and refused past this many bytes.
    upstream_max_body_bytes: Positive = 64 * 1024 * 1024

    # --- the upstream's limits, shared by every batch (one gate per credential) ---
    upstream_rpm: Positive | None = None  # requests per window; None: learn from headers
    upstream_rate_window_seconds: PositiveFloat = 60.0
    upstream_rpd: Positive | None = None  # requests per day, where the provider has one
    upstream_max_in_flight: Positive = 32
    # A credential with no credits (402, insufficient_quota) rests this long between checks.
    upstream_no_credit_recheck_seconds: PositiveFloat = 3600.0
    # Every wait an upstream asks for (Retry-After, a reset) is capped here; a longer ask
    # marks the credential blocked (/readyz degraded) instead of freezing every batch.
    upstream_max_pause_seconds: PositiveFloat = 900.0
    # While no limit is known, starts are this far apart (wall seconds, never scaled), so
    # the first 429 stops the opening burst before the upstream counts a storm of refusals.
    upstream_probe_seconds: NonNegativeFloat = 0.05

    # --- retries ---
    slide_max_attempts: Positive = 4  # paid attempts per slide
    slide_max_rate_limit_requeues: Positive = 30  # 429s are not paid; bounded separately
    retry_base_seconds: PositiveFloat = 2.0
    retry_max_seconds: PositiveFloat = 60.0
    slide_placeholder_on_failure: bool = False

    # --- local renderer ---
    local_render_long_side: Annotated[int, Field(ge=64, le=8192)] = 1920
    local_render_delay_seconds: Annotated[float, Field(ge=0)] = 0.0

    # --- storage and logs ---
    data_dir: Path = Path("data")
    image_output_dir: Path | None = None  # default: DATA_DIR/images
    seed_assets_dir: Path | None = (
        None  # the seed's saved images, served at /assets; DATA_DIR/assets
    )
    database_url: str | None = None  # default: SQLite in DATA_DIR
    # PostgreSQL connections each process keeps open and never exceeds (no overflow: an
    # overflow connection is reopened under load and prepares every statement again).
    # A fleet of N processes needs N x (this + 2) under the server's max_connections.
    database_pool_size: Annotated[int, Field(ge=2, le=500)] = 20
    # --- a fleet on PostgreSQL (``slidebatch worker``, ``serve --no-worker``) ---
    fleet_lease_seconds: Annotated[float, Field(ge=3, le=3600)] = (
        30.0  # a dead worker's slides wait this long
    )
    fleet_poll_seconds: Annotated[float, Field(gt=0, le=60)] = (
        1.0  # look for work this often besides NOTIFY
    )
    log_dir: Path = Path("logs")

    # --- server ---
    server_host: str = "127.0.0.1"
    server_port: Annotated[int, Field(ge=0, le=65535)] = 8000
    # An idle kept-alive connection is closed after this many seconds (uvicorn's
    # timeout_keep_alive). Longer than clients keep theirs (httpx's pool 5 s, a proxy's
    # 60 s), so the client gives up an idle connection first. At uvicorn's 5 s, the same as
    # httpx's, a busy server reset connections a client had just sent a request on (uvloop
    # runs due timers before it reads the sockets): httpx ReadError on a burst of submits.
    server_keep_alive_seconds: Annotated[int, Field(ge=1, le=3600)] = 75

    # --- limits and security (BATCH_MAX_SLIDES above is the slides-per-batch limit) ---
    max_title_chars: Positive = 300
    max_content_chars: Positive = 5000
    max_visual_desc_chars: Positive = 3000
    max_style_prompt_chars: Positive = 5000
    max_slide_id_chars: Positive = 128
    # 200 slides at the text limits in CJK (3 bytes a character) stay under 8 MiB.
    max_body_bytes: Positive = 8 * 1024 * 1024
    # Comma-separated (or a JSON list); empty: same-origin only, no CORS headers.
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Serve a non-loopback address without any API key (explicit opt-in, never the default).
    insecure_no_auth: bool = False
    # Quotas of a key created without its own; None: unlimited.
    key_default_max_concurrent: Positive | None = 3
    key_default_max_slides_per_day: Positive | None = 2000
    key_default_max_spend_per_day: PositiveFloat | None = None

    @field_validator("batch_default_workers", mode="before")
    @classmethod
    def _auto_or_int(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        return value

    @field_validator(
        "allowed_origins", "image_download_allowed_hosts", "image_provider_fallback", mode="before"
    )
    @classmethod
    def _origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator(
        "llm_api_key",
        "gemini_api_key",
        "openai_api_key",
        "gemini_project_id",
        "key_default_max_concurrent",
        "key_default_max_slides_per_day",
        "key_default_max_spend_per_day",
        "upstream_price_per_image",
        mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _coherent(self) -> Settings:
        if (
            isinstance(self.batch_default_workers, int)
            and self.batch_default_workers > self.batch_max_workers
        ):
            raise ValueError(
                f"BATCH_DEFAULT_WORKERS ({self.batch_default_workers}) is above "
                f"BATCH_MAX_WORKERS ({self.batch_max_workers})"
            )
        if self.retry_base_seconds > self.retry_max_seconds:
            raise ValueError(
                f"RETRY_BASE_SECONDS ({self.retry_base_seconds}) is above "
                f"RETRY_MAX_SECONDS ({self.retry_max_seconds})"
            )
        if self.upstream_rpd is not None and self.upstream_rpm is not None:
            per_day = self.upstream_rpm * 86400 / self.upstream_rate_window_seconds
            if self.upstream_rpd > per_day:
                raise ValueError(
                    f"UPSTREAM_RPD ({self.upstream_rpd}) can never be reached at UPSTREAM_RPM "
                    f"({self.upstream_rpm}) per UPSTREAM_RATE_WINDOW_SECONDS "
                    f"({self.upstream_rate_window_seconds})"
                )
        needed = {
            ProviderName.OPENROUTER: ("LLM_API_KEY", self.llm_api_key),
            ProviderName.GEMINI: ("GEMINI_API_KEY", self.gemini_api_key),
            ProviderName.OPENAI: ("OPENAI_API_KEY", self.openai_api_key),
        }.get(self.image_provider)
        if needed is not None and needed[1] is None:
            raise ValueError(f"IMAGE_PROVIDER={self.image_provider} needs {needed[0]}")
        keys = {
            ProviderName.OPENROUTER: ("LLM_API_KEY", self.llm_api_key),
            ProviderName.GEMINI: ("GEMINI_API_KEY", self.gemini_api_key),
            ProviderName.OPENAI: ("OPENAI_API_KEY", self.openai_api_key),
        }
        for fallback in self.image_provider_fallback:
            if fallback is ProviderName.AUTO:
                raise ValueError("IMAGE_PROVIDER_FALLBACK names providers, not auto")
            name, key = keys.get(fallback, ("", "local"))
            if key is None:
                raise ValueError(f"IMAGE_PROVIDER_FALLBACK={fallback} needs {name}")
        return self

    # --- derived values (one place, so nobody recomputes them differently) ---

    @property
    def default_workers(self) -> int | None:
        """The per-batch cap when a request gives none; ``None`` is auto."""
        return None if self.batch_default_workers == "auto" else int(self.batch_default_workers)

    @property
    def provider(self) -> ProviderName:
        """The provider actually used: ``auto`` picks the first configured key, else local."""
        if self.image_provider is not ProviderName.AUTO:
            return self.image_provider
        if self.llm_api_key is not None:
            return ProviderName.OPENROUTER
        if self.gemini_api_key is not None:
            return ProviderName.GEMINI
        if self.openai_api_key is not None:
            return ProviderName.OPENAI
        return ProviderName.LOCAL

    @property
    def images_dir(self) -> Path:
        return self.image_output_dir or self.data_dir / "images"

    @property
    def assets_dir(self) -> Path:
        return self.seed_assets_dir or self.data_dir / "assets"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'slidebatch.db'}"

    def masked(self) -> dict[str, Any]:
        """Every setting by its environment name, secrets shown as ``****abcd``."""
        shown: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                secret = value.get_secret_value()
                value = "****" + secret[-4:] if len(secret) >= 12 else "****"
            elif name == "database_url" and isinstance(value, str):
                value = mask_url_password(value)
            elif isinstance(value, Path | StrEnum):
                value = str(value)
            shown[name.upper()] = value
        shown["(provider in use)"] = str(self.provider)
        shown["(database in use)"] = mask_url_password(self.effective_database_url)
        return shown


def mask_url_password(url: str) -> str:
    """``postgresql://u:secret@h/db`` -> ``postgresql://u:****@h/db``."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    if ":" in creds:
        creds = creds.split(":", 1)[0] + ":****"
    return f"{scheme}://{creds}@{host}"


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, or raise ``ConfigError`` with one line naming what is wrong."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc)) from exc


def _one_line(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        names = ".".join(str(p).upper() for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{names}: {message}" if names else message)
    return "invalid configuration: " + "; ".join(parts)
