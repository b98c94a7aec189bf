"""Who may do what: roles per tenant (the Grafana organisation model), pure.

``viewer`` reads, ``operator`` also acks and silences, ``admin`` also manages the rules, keys and
users of its tenant. A user may hold a different role in each tenant; a server admin (and
``LOOKOUT_API_TOKEN``) is admin of every tenant and also manages tenants. Each operation of the
API needs one :class:`Need` (its row in :data:`app.api.openapi.ROUTES`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    """A user's role in one tenant."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """0 for viewer, 1 for operator, 2 for admin."""
        return ORDER.index(self)


ORDER = (Role.VIEWER, Role.OPERATOR, Role.ADMIN)


class Need(StrEnum):
    """What an operation needs from its caller."""

    PUBLIC = "public"
    INGEST = "ingest"
    USER = "user"
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"
    SERVER_ADMIN = "server_admin"

    @property
    def role(self) -> Role | None:
        """The tenant role this need asks for (None: not a tenant role)."""
        return Role(self.value) if self.value in Role.__members__.values() else None


@dataclass(frozen=True)
class Principal:
    """The caller of a request: a user with roles per tenant, or the server admin."""

    name: str
    user_id: int | None = None
    server_admin: bool = False
    roles: Mapping[str, Role] = field(default_factory=dict)
    read_all: bool = False  # sign-in off: anonymous reads see every tenant

    def role_in(self, tenant: str) -> Role | None:
        """This caller's role in ``tenant`` (admin everywhere for a server admin)."""
        if self.server_admin:
            return Role.ADMIN
        role = self.roles.get(tenant)
        if role is None and self.read_all:
            return Role.VIEWER
        return role

    def can(self, role: Role, tenant: str) -> bool:
        """True if this caller holds ``role`` (or a higher one) in ``tenant``."""
        held = self.role_in(tenant)
        return held is not None and held.rank >= role.rank

    def sees(self, tenant: str) -> bool:
        """True if this caller may read ``tenant``'s data."""
        return self.can(Role.VIEWER, tenant)

    def readable(self) -> frozenset[str] | None:
        """The tenants whose data this caller reads; None: every tenant (a server admin, or
        anyone while sign-in is off)."""
        if self.server_admin or self.read_all:
            return None
        return frozenset(self.roles)

    def anywhere(self, role: Role) -> bool:
        """True if this caller holds ``role`` (or higher) in at least one tenant."""
        if self.server_admin or (self.read_all and role is Role.VIEWER):
            return True
        return any(r.rank >= role.rank for r in self.roles.values())

    def allowed(self, need: Need) -> bool:
        """True if this caller may call an operation that needs ``need`` at all."""
        if need is Need.PUBLIC:
            return True
        if need is Need.SERVER_ADMIN:
            return self.server_admin
        if need is Need.USER:
            return self.user_id is not None or self.server_admin
        role = need.role
        return role is not None and self.anywhere(role)


SERVER_ADMIN = Principal("api-token", server_admin=True)
ANONYMOUS = Principal("anonymous", read_all=True)
