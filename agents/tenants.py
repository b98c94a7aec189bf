"""Keeps the worker's host->tenant map (:class:`app.tenancy.TenantMap`) and the set of disabled
users in step with PostgreSQL.

Every worker loads ``team_server_assignment`` and ``host_tenants`` when it starts and again every
LOOKOUT_TENANT_REFRESH seconds, off the hot path: PostgreSQL is the one source all workers agree
on (the ingest API writes a host's claim there before it produces the host's data). The access
tokens of a user disabled since they were signed are refused once the next reload has seen it
(LOOKOUT_TENANT_REFRESH, at most the token's own lifetime anyway). A worker
that cannot reach PostgreSQL keeps its last map and says so in its log.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agents.runtime import Lookout

log = logging.getLogger(__name__)


async def refresh_tenants(lk: Lookout) -> bool:
    """Reload the map once; True if it changed (alerts then re-read the tenant of a host)."""
    if lk.identity is None:
        return False
    try:
        loaded = await lk.identity.host_map()
        disabled = await lk.identity.disabled_users()
    except Exception as exc:  # keep the last map; the next tick tries again
        log.warning("host->tenant map not reloaded (%s): %s", type(exc).__name__, exc)
        lk.stats.inc("lookout_tenant_map_errors_total")
        return False
    changed = any(lk.tenants.assigned(h) != t for h, t in loaded.items()) or len(loaded) != len(
        lk.tenants
    )
    lk.tenants.replace(loaded)
    if disabled != lk.disabled_users:  # the same set object: the API holds it
        lk.disabled_users.clear()
        lk.disabled_users.update(disabled)
    lk.stats.set("lookout_tenant_map_hosts", len(loaded))
    if changed and lk.store.alerting is not None:
        lk.store.alerting.tenants_changed()
    return changed


def register_tenant_refresh(lk: Lookout) -> None:
    """Load the map when the worker starts, then on a timer."""
    if lk.identity is None:
        return

    @lk.app.task
    async def load_tenants_at_start() -> None:
        assert lk.identity is not None
        try:  # the default tenant exists, so bootstrap keys and roles can name it
            await lk.identity.add_tenant(lk.settings.default_tenant, "the default tenant")
        except Exception as exc:
            log.warning("default tenant not ensured (%s): %s", type(exc).__name__, exc)
        await refresh_tenants(lk)

    @lk.app.timer(lk.settings.tenant_refresh)
    async def reload_tenants() -> None:
        await refresh_tenants(lk)
