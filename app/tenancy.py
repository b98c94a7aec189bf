"""Which tenant a host belongs to: the host->tenant map every worker holds (pure).

Sources, strongest first: ``team_server_assignment`` (primary team) and hosts learnt from ingest
keys (``host_tenants``), both loaded from PostgreSQL by every worker and refreshed on a timer
(:class:`sinks.identity.IdentityStore`); then a ``tenant`` tag the host's data carries (learnt
once per host); else the default tenant (LOOKOUT_DEFAULT_TENANT).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TENANT_TAG = "tenant"
MAX_TAGGED = 200_000


class TenantMap:
    """host -> tenant, with the default for hosts nobody assigned."""

    def __init__(self, default: str, assigned: Mapping[str, str] | None = None) -> None:
        self.default = default
        self._assigned: dict[str, str] = dict(assigned or {})
        self._tagged: dict[str, str] = {}

    def assigned(self, host: str) -> str | None:
        """The tenant a key or an assignment gave ``host`` (None: nobody assigned it)."""
        return self._assigned.get(host)

    def of(self, host: str, labels: Mapping[str, Any] | None = None) -> str:
        """The tenant of ``host``; ``labels`` (``describe_series`` output) may carry the tag."""
        tenant = self._assigned.get(host) or self._tagged.get(host)
        if tenant is not None:
            return tenant
        return self.of_tag(host, ((labels or {}).get("tags") or {}).get(TENANT_TAG))

    def of_tag(self, host: str, tag: Any) -> str:
        """:meth:`of` with the ``tenant`` tag of the host's series already looked up (or None)."""
        tenant = self._assigned.get(host) or self._tagged.get(host)
        if tenant is not None:
            return tenant
        if tag:
            if len(self._tagged) >= MAX_TAGGED:
                self._tagged.clear()
            self._tagged[host] = str(tag)
            return str(tag)
        return self.default

    def assign(self, host: str, tenant: str) -> None:
        """Record an assignment learnt here (also written to PostgreSQL by the caller)."""
        self._assigned[host] = tenant

    def replace(self, assigned: Mapping[str, str]) -> None:
        """Take the assignments loaded from PostgreSQL (the source every worker agrees on)."""
        self._assigned = dict(assigned)

    def __len__(self) -> int:
        return len(self._assigned)
