"""Defence in depth: configured secrets never reach a log line, whatever a caller passes.

Secrets are replaced inside every string of a record (keys and values) before it is
serialized, so scrubbing can never break the JSON structure of a line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from enum import Enum
from pathlib import PurePath
from typing import Any, Protocol

from pydantic import SecretStr

MASK = "****"


class _SecretSettings(Protocol):
    @property
    def llm_api_key(self) -> SecretStr | None: ...
    @property
    def gemini_api_key(self) -> SecretStr | None: ...
    @property
    def openai_api_key(self) -> SecretStr | None: ...
    @property
    def database_url(self) -> str | None: ...


class Scrubber:
    """Replaces each configured secret with ``****`` in a JSON-ready structure."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret containing another is masked whole.
        self._secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def text(self, value: str) -> str:
        """``value`` with every secret masked."""
        for secret in self._secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return value

    def record(self, value: Any) -> Any:
        """A JSON-ready copy of ``value``: containers walked, unknown objects made strings."""
        if isinstance(value, str):
            return self.text(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, Mapping):
            return {self.text(str(k)): self.record(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.record(v) for v in value]
        if isinstance(value, datetime | date):
            return value.isoformat()
        if isinstance(value, Enum):
            return self.record(value.value)
        if isinstance(value, PurePath):
            return self.text(str(value))
        return self.text(str(value))


def settings_secrets(settings: _SecretSettings) -> list[str]:
    """The secrets in ``settings``: upstream keys and the database password."""
    found = [
        key.get_secret_value()
        for key in (settings.llm_api_key, settings.gemini_api_key, settings.openai_api_key)
        if key is not None
    ]
    password = _url_password(settings.database_url)
    if password:
        found.append(password)
    return found


def _url_password(url: str | None) -> str | None:
    if not url or "://" not in url:
        return None
    rest = url.split("://", 1)[1]
    if "@" not in rest:
        return None
    creds = rest.rpartition("@")[0]
    if ":" not in creds:
        return None
    return creds.split(":", 1)[1] or None
