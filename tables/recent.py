"""The last closed windows of each host, kept for the HTTP API as their serialized records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tables.records import Final


class RecentWindows(dict[str, dict[tuple[str, str], list[bytes]]]):
    """Host -> (series, kind) -> the last ``size`` final records (orjson bytes), oldest first.

    About 0.5 kB a record, so 10,000 series x 2 kinds x 5 windows stay near 50 MB. A ring is a
    plain list trimmed from the front: a ``deque`` allocates a 64-slot block per ring (about
    0.6 kB for each of the hundreds of thousands of series a big worker holds).
    """

    def __init__(self, size: int = 5) -> None:
        super().__init__()
        self.size = size

    def remember_finals(self, finals: Sequence[Final], bodies: Sequence[bytes]) -> None:
        """Keep each final's serialized record as the newest of its (series, kind) ring on its
        host (one host lookup per run of finals of the same host: a host closes all its series
        together)."""
        size = self.size
        host = None
        rings: dict[tuple[str, str], list[bytes]] = {}
        for final, body in zip(finals, bodies, strict=True):
            if final.host != host:
                host = final.host
                got = self.get(host)
                rings = self[host] = {} if got is None else got
            key = (final.series, final.kind)
            ring = rings.get(key)
            if ring is None:
                rings[key] = [body]
            else:
                ring.append(body)
                if len(ring) > size:
                    del ring[: len(ring) - size]

    def keep_only(self, hosts: set[str]) -> None:
        """Drop the records of hosts not in ``hosts`` (no longer owned here)."""
        for host in [h for h in self if h not in hosts]:
            del self[host]
