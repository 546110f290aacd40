"""Who is calling: API keys, their roles, and the principal a request acts as.

Plain values shared by storage (which persists keys), the quota check and the API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from slidebatch.core.quota import Quotas


class Role(StrEnum):
    ADMIN = "admin"  # sees and acts on every batch, manages keys
    USER = "user"  # sees and acts on its own batches only


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
