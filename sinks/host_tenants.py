"""The sinks' host->tenant map: the worker's map (:class:`app.tenancy.TenantMap`), loaded from
PostgreSQL (``v_host_tenant``, :meth:`sinks.identity.IdentityStore.host_map`) and kept current.

The sinks label every raw row and log document with its host's tenant, so they must not lag
behind a claim: the ingest API writes a new host's claim to PostgreSQL before it produces the
host's data. Before a batch is mapped (:meth:`HostTenants.ensure`, called by the runner through
the writer's ``prepare``) the map is loaded when it never was, when it is older than
``LOOKOUT_TENANT_REFRESH``, and when the batch names a host the map has not seen since the last
load. A load that is needed (first load, or an unknown host) and fails raises, and the runner
retries the batch with backoff: a row is never stored under the default tenant only because
PostgreSQL did not answer. A periodic refresh that fails keeps the last map and says so.

The price, chosen for tenant isolation over availability: while PostgreSQL is away, a sink whose
batch names a host it has never seen holds that batch (and the ones after it) until PostgreSQL
answers; the Elasticsearch sink too. It logs ``TenantMapUnavailable`` with what to check. Batches
that name only hosts seen before the outage flow as usual.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping

from app.tenancy import TenantMap
from sinks.batch import Message
from sinks.errors import TenantMapUnavailable

log = logging.getLogger(__name__)

Loader = Callable[[], Awaitable[Mapping[str, str]]]
MAX_CHECKED = 100_000  # hosts known to be unassigned at the last load (bounded memo)


class HostTenants:
    """A :class:`TenantMap` the sinks read, reloaded from PostgreSQL when it may be stale."""

    def __init__(
        self,
        default: str = "default",
        load: Loader | None = None,
        *,
        refresh: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.map = TenantMap(default)
        self._load = load
        self.refresh = refresh
        self._clock = clock
        self._loaded_at: float | None = None
        self._checked: set[str] = set()
        self._lock = asyncio.Lock()
        self.loads = 0

    def unknown(self, hosts: Iterable[str]) -> set[str]:
        """Of ``hosts``, those nobody assigned as of the last load and not checked since."""
        assigned, checked = self.map.assigned, self._checked
        return {h for h in hosts if assigned(h) is None and h not in checked}

    async def ensure(self, hosts: Iterable[str] = ()) -> None:
        """Make the map current for a batch that names ``hosts`` (see the module docstring)."""
        if self._load is None:
            return
        async with self._lock:
            unknown = self.unknown(hosts)
            now = self._clock()
            due = self._loaded_at is None or now - self._loaded_at >= self.refresh
            if not unknown and not due:
                return
            try:
                loaded = await self._load()
            except Exception as exc:
                if self._loaded_at is None or unknown:
                    raise TenantMapUnavailable(  # the cause is appended by sinks.errors.describe
                        f"host->tenant map not loaded for {len(unknown) or 'the first'} new "
                        f"host(s) (e.g. {sorted(unknown)[:3] or '-'})"
                    ) from exc
                self._loaded_at = now  # try again at the next refresh, not at every batch
                log.warning(
                    "sinks: host->tenant map not reloaded, keeping the last one (%s): %s",
                    type(exc).__name__,
                    exc,
                )
                return
            self.map.replace(loaded)
            self._loaded_at = now
            self.loads += 1
            if len(self._checked) + len(unknown) > MAX_CHECKED:
                self._checked.clear()
            self._checked.update(h for h in unknown if self.map.assigned(h) is None)


def keyed_hosts(messages: Iterable[Message], topics: Collection[str]) -> set[str]:
    """The hosts that messages of ``topics`` (input topics, keyed by host) are keyed by."""
    return {m.key.decode("utf-8", "replace") for m in messages if m.key and m.topic in topics}
