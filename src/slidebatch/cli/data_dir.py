"""Where the CLI keeps its state: a per-user data directory, never the current folder.

The server keeps ``DATA_DIR``/``LOG_DIR`` relative to where it runs (the seed's
``grep logs/pipeline_...`` commands depend on it). A one-off ``slidebatch generate`` must not
leave ``./data`` and ``./logs`` behind wherever it was typed, so the CLI's default is the
user's data directory (``~/.local/share/slidebatch`` on Linux, per platformdirs). An explicit
``DATA_DIR`` / ``LOG_DIR`` (environment or ``.env``) or ``--data-dir`` still wins.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slidebatch.config import Settings

APP_NAME = "slidebatch"


def default_data_dir() -> Path:
    """The per-user data directory (not created)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False))


def cli_settings(data_dir: Path | None = None, **overrides: Any) -> Settings:
    """Settings for a CLI command: ``data_dir`` (``--data-dir``) > environment > per-user dir.

    Raises ``ConfigError`` like ``load_settings``.
    """
    from slidebatch.config import load_settings

    settings = load_settings(**overrides)
    given = settings.model_fields_set
    if data_dir is None and "data_dir" in given:
        return settings
    chosen = data_dir if data_dir is not None else default_data_dir()
    changes: dict[str, Any] = {"data_dir": chosen.expanduser()}
    if "log_dir" not in given:
        changes["log_dir"] = chosen.expanduser() / "logs"
    return load_settings(**{**overrides, **changes})
