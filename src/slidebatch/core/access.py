"""Who is calling: API keys, their roles and quotas, and the principal a request acts as.

Plain values shared by storage (which persists keys), the quota check and the API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

_T = TypeVar("_T")


class Role(StrEnum):
    ADMIN = "admin"  # sees and acts on every batch, manages keys
    USER = "user"  # sees and acts on its own batches only


@dataclass(frozen=True, slots=True)
class Quotas:
    """Per-key bounds; ``None`` means unlimited."""

    max_concurrent_batches: int | None = None
    max_slides_per_day: int | None = None
    max_spend_per_day: float | None = None

    def or_defaults(self, defaults: Quotas) -> Quotas:
        """Each unset bound taken from ``defaults`` (the server's KEY_DEFAULT_* settings)."""
        return Quotas(
            max_concurrent_batches=_first(
                self.max_concurrent_batches, defaults.max_concurrent_batches
            ),
            max_slides_per_day=_first(self.max_slides_per_day, defaults.max_slides_per_day),
            max_spend_per_day=_first(self.max_spend_per_day, defaults.max_spend_per_day),
        )


def _first(value: _T | None, default: _T | None) -> _T | None:
    return value if value is not None else default


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key, without its secret (only its hash is stored, and never leaves storage)."""

    id: str
    name: str
    role: Role
    created_at: datetime
    quotas: Quotas = field(default_factory=Quotas)
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True, slots=True)
class Principal:
    """The identity a request acts as.

    ``key_id`` is ``None`` in open mode (no keys configured, loopback bind): the local user
    is trusted like an admin and has no quotas.
    """

    key_id: str | None
    name: str
    role: Role
    quotas: Quotas = field(default_factory=Quotas)

    @classmethod
    def anonymous(cls) -> Principal:
        """The principal of open mode."""
        return cls(key_id=None, name="anonymous", role=Role.ADMIN)

    @classmethod
    def of_key(cls, key: ApiKey, defaults: Quotas | None = None) -> Principal:
        """The principal of ``key``, its unset quotas filled from ``defaults``."""
        quotas = key.quotas.or_defaults(defaults) if defaults is not None else key.quotas
        return cls(key_id=key.id, name=key.name, role=key.role, quotas=quotas)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def owner(self) -> str | None:
        """The owner to stamp on a batch this principal creates."""
        return self.key_id

    @property
    def owner_filter(self) -> str | None:
        """The owner to restrict reads and actions to; ``None`` (admins, open mode): all."""
        return None if self.is_admin else self.key_id


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling, and from where: ``owner`` is stamped on what they create; ``scope``
    limits what they see (``None`` for admins and open mode)."""

    principal: Principal
    client: str

    @property
    def key_id(self) -> str | None:
        return self.principal.key_id

    @property
    def owner(self) -> str | None:
        return self.principal.owner

    @property
    def scope(self) -> str | None:
        return self.principal.owner_filter
