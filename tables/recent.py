"""The last closed windows of each host, kept for the HTTP API as their serialized records."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tables.records import Final


class RecentWindows(dict[str, dict[tuple[str, str], deque[bytes]]]):
    """Host -> (series, kind) -> ring of the last ``size`` final records (orjson bytes).

    About 0.5 kB a record, so 10,000 series x 2 kinds x 5 windows stay near 50 MB.
    """

    def __init__(self, size: int = 5) -> None:
        super().__init__()
        self.size = size

    def remember(self, host: str, series: str, kind: str, body: bytes) -> None:
        """Keep ``body`` as the newest record of ``(series, kind)`` on ``host``."""
        rings = self.setdefault(host, {})
        ring = rings.get((series, kind))
        if ring is None:
            ring = rings[(series, kind)] = deque(maxlen=self.size)
        ring.append(body)

    def remember_finals(self, finals: Sequence[Final], bodies: Sequence[bytes]) -> None:
        """:meth:`remember` each final's serialized record (consecutive finals of one host
        share its lookup)."""
        size = self.size
        host = None
        rings: dict[tuple[str, str], deque[bytes]] = {}
        for final, body in zip(finals, bodies, strict=True):
            if final.host != host:
                host = final.host
                rings = self.setdefault(host, {})
            key = (final.series, final.kind)
            ring = rings.get(key)
            if ring is None:
                ring = rings[key] = deque(maxlen=size)
            ring.append(body)

    def keep_only(self, hosts: set[str]) -> None:
        """Drop the records of hosts not in ``hosts`` (no longer owned here)."""
        for host in [h for h in self if h not in hosts]:
            del self[host]
