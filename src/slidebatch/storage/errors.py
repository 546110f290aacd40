"""Database failures translated into slidebatch errors at the storage edge.

Callers above storage never catch SQLAlchemy or driver exceptions: a database that went
away becomes ``StorageUnavailable`` (the API answers 503), a violated unique or foreign
key becomes ``Conflict``, with the cause chained.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError, StatementError

from slidebatch.errors import Conflict, SlidebatchError


class StorageUnavailable(SlidebatchError):
    """The database cannot be reached or answered with an error; try again later."""


class StorageLost(StorageUnavailable):
    """The database this process opened is gone (its SQLite file deleted or replaced):
    waiting does not bring it back, so what depends on writing gives up (a batch fails)."""


@contextmanager
def translated(action: str) -> Iterator[None]:
    """Turn SQLAlchemy / driver / OS errors raised inside into ``StorageUnavailable``.

    ``action`` names what was being done (``"read batch"``), for the message. Messages
    carry the driver's text without the statement and parameters (they hold user data).
    """
    try:
        yield
    except IntegrityError as exc:
        raise Conflict(f"{action} conflicts with stored data: {_short(exc.orig)}") from exc
    except DBAPIError as exc:
        raise StorageUnavailable(f"database error during {action}: {_short(exc.orig)}") from exc
    except StatementError as exc:
        # A value the driver could not bind (a naive datetime...) is the caller's bug.
        if isinstance(exc.orig, ValueError | TypeError):
            raise exc.orig from exc
        raise StorageUnavailable(f"database error during {action}: {_short(exc.orig)}") from exc
    except SQLAlchemyError as exc:
        raise StorageUnavailable(f"database error during {action}: {_short(exc)}") from exc
    except OSError as exc:
        raise StorageUnavailable(f"database unreachable during {action}: {_short(exc)}") from exc


def _short(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    text = str(exc).strip().splitlines()
    name = type(exc).__name__
    return f"{name}: {text[0]}" if text else name
