"""Pattern miners per input partition: the pattern state a worker keeps (pure).

Hosts are partitioned, so a service's lines reach several partitions. Each partition has its own
:class:`~patterns.miner.PatternMiner`: its clusters are written to the same partition of the
changelog as the windows of its hosts, move with it on a rebalance, and evolve as a pure function
of the partition's lines in offset order (a replay from the same state gives the same ids). The
same template seen on two partitions gets the same id (ids hash the service and the first
template), so counts and alerts line up across workers.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from patterns.drain import Cluster, ServiceTree
from patterns.miner import PatternMiner


class PatternBook:
    """One :class:`PatternMiner` per partition this worker owns."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.miners: dict[int, PatternMiner] = {}

    def miner(self, partition: int) -> PatternMiner:
        """The miner of ``partition`` (created on first use)."""
        miner = self.miners.get(partition)
        if miner is None:
            miner = self.miners[partition] = PatternMiner(**self.options)
        return miner

    def mine(
        self,
        partition: int,
        service: str,
        message: str | bytes,
        ts: float,
        tenant: str | None = None,
    ) -> tuple[Cluster, float]:
        """The cluster of one message (see :meth:`PatternMiner.mine`) and the event time of the
        service's first line on that partition (the start of a learning period)."""
        miner = self.miners.get(partition) or self.miner(partition)
        cluster = miner.mine(service, message, ts, tenant)
        start = miner.trees[service].start
        return cluster, ts if start is None else start

    def patterns(
        self, service: str | None = None, since: float | None = None
    ) -> Iterator[tuple[str, Cluster]]:
        """``(service, cluster)`` of every partition (see :meth:`PatternMiner.patterns`)."""
        for partition in sorted(self.miners):
            yield from self.miners[partition].patterns(service, since)

    def trees(self) -> Iterator[tuple[int, ServiceTree]]:
        """``(partition, tree)`` of every service of every partition."""
        for partition, miner in self.miners.items():
            for tree in miner.trees.values():
                yield partition, tree

    def collect(self) -> list[tuple[int, str, dict[str, Any] | None]]:
        """``(partition, key, state)`` changed since the last call; state None: delete the key."""
        out: list[tuple[int, str, dict[str, Any] | None]] = []
        for partition, miner in self.miners.items():
            entries, gone = miner.collect()
            out.extend((partition, key, state) for key, state in entries)
            out.extend((partition, key, None) for key in gone)
        return out

    def restore(self, partition: int, key: str, state: Mapping[str, Any]) -> None:
        """Load one changelog entry of ``partition``."""
        self.miner(partition).restore(key, state)

    def drop_partitions(self, keep: set[int]) -> None:
        """Forget the miners of partitions this worker no longer owns."""
        for partition in [p for p in self.miners if p not in keep]:
            del self.miners[partition]

    def counters(self) -> dict[str, int]:
        """Lines truncated for mining, lines with invalid UTF-8, clusters evicted (all
        partitions), for the worker's metrics."""
        miners = self.miners.values()
        return {
            "lines_truncated": sum(m.truncated for m in miners),
            "lines_invalid_utf8": sum(m.invalid_utf8 for m in miners),
            "clusters_evicted": sum(m.evicted for m in miners),
        }
