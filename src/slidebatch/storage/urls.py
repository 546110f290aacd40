"""Database URLs: accept the common spellings, always run on an async driver."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from slidebatch.config import mask_url_password
from slidebatch.errors import ConfigError

# What users and platforms write -> the async driver slidebatch runs on.
_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


def parse_url(url: str) -> URL:
    """The URL on its async driver; ``ConfigError`` for anything else (password masked)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"DATABASE_URL {mask_url_password(url)!r} is not a URL") from exc
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ConfigError(
            f"DATABASE_URL scheme {parsed.drivername!r} is not supported; "
            "use sqlite+aiosqlite:///path.db or postgresql+asyncpg://user@host/db"
        )
    parsed = parsed.set(drivername=driver)
    if driver.startswith("sqlite") and parsed.database in (None, "", ":memory:"):
        raise ConfigError("DATABASE_URL must name a SQLite file; an in-memory database is lost")
    return parsed


def async_url(url: str) -> str:
    """``parse_url`` as a string (passwords kept: this one goes to the driver)."""
    return parse_url(url).render_as_string(hide_password=False)


def sqlite_file(url: URL) -> Path | None:
    """The SQLite database file of ``url``, or ``None`` for other backends."""
    if url.get_backend_name() != "sqlite" or not url.database:
        return None
    return Path(url.database)
