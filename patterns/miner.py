"""The pattern miner: messages of each service -> stable pattern ids, with durable state (pure).

:meth:`PatternMiner.mine` masks a message (:mod:`patterns.masking`), finds or creates its
cluster in the service's tree (:mod:`patterns.drain`) and returns it; ``cluster.id`` is the
record's ``pattern_id``. Bad input never raises: bytes that are not UTF-8 are decoded with
replacement characters (counted in ``invalid_utf8``), a message longer than ``max_line``
characters is mined on its first ``max_line`` characters (counted in ``truncated``).

State is JSON (no pickle): :meth:`collect` hands out what changed since the last call as
changelog entries, one per cluster (``pt|service|id``) and one per service (``ps|service``),
plus the keys of evicted clusters; :meth:`restore` loads them back. :meth:`to_state` and
:meth:`from_state` do the same for the whole miner at once. A restored miner gives new lines of
known templates the ids they had before.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from patterns.drain import Cluster, ServiceTree, pattern_id
from patterns.masking import Masker, coarse_shape, fine_shape, mask_quotes

CLUSTER_PREFIX = "pt|"
SERVICE_PREFIX = "ps|"


def cluster_key(service: str, pid: str) -> str:
    """Changelog key of one cluster."""
    return f"{CLUSTER_PREFIX}{service}|{pid}"


def service_key(service: str) -> str:
    """Changelog key of one service's bookkeeping (start, counters)."""
    return f"{SERVICE_PREFIX}{service}"


class PatternMiner:
    """Pattern clusters of every service a worker (or partition) sees; clock-free."""

    def __init__(
        self,
        *,
        max_clusters: int = 1000,
        max_line: int = 4096,
        sim: float = 0.6,
        depth: int = 1,
        settled: int = 10,
        example_len: int = 512,
    ) -> None:
        self.max_clusters = max_clusters
        self.max_line = max_line
        self.sim = sim
        self.depth = depth
        self.settled = settled
        self.example_len = example_len
        self.masker = Masker()
        self.trees: dict[str, ServiceTree] = {}
        self.truncated = 0
        self.invalid_utf8 = 0
        self._dirty: dict[Cluster, str] = {}  # cluster -> its service
        self._dirty_services: set[str] = set()
        self._gone: list[str] = []

    def tree(self, service: str) -> ServiceTree:
        """The tree of ``service`` (created on first sight)."""
        tree = self.trees.get(service)
        if tree is None:
            tree = self.trees[service] = ServiceTree(
                service,
                max_clusters=self.max_clusters,
                sim=self.sim,
                depth=self.depth,
                settled=self.settled,
            )
        return tree

    def mine(
        self, service: str, message: str | bytes, ts: float, tenant: str | None = None
    ) -> Cluster:
        """The cluster of one message of ``service`` at event time ``ts`` (counts updated, also
        those of ``tenant``, the tenant of the line's host)."""
        if message.__class__ is str:  # the common case first: an ASCII line of a known shape
            text0: str = message  # type: ignore[assignment]
            tree = self.trees.get(service)
            if (
                tree is not None
                and text0.isascii()
                and len(text0) <= self.max_line
                and '"' not in text0
                and "'" not in text0
            ):
                cluster = tree.shapes.get(fine_shape(text0.encode()))
                if cluster is not None and cluster.alive:  # what the general path below finds
                    tree.clusters.move_to_end(cluster.id)
                    return self._count(service, tree, cluster, text0, ts, tenant)
        if message.__class__ is not str:
            message = self._decode(message)  # type: ignore[arg-type]
        text: str = message  # type: ignore[assignment]
        if len(text) > self.max_line:
            text = text[: self.max_line]
            self.truncated += 1
        if not text.isascii():
            text = self._clean(text)
        tree = self.trees.get(service) or self.tree(service)
        quoted = mask_quotes(text) if '"' in text or "'" in text else text
        raw = quoted.encode("utf-8", "surrogatepass")
        fine = fine_shape(raw)
        shapes = tree.shapes
        cluster = shapes.get(fine)
        if cluster is None or not cluster.alive:
            shape = coarse_shape(raw)
            cluster = shapes.get(shape)
            if cluster is None or not cluster.alive:
                get, miss = self.masker.cache.get, self.masker.miss
                cluster = tree.match(tuple([get(tok) or miss(tok) for tok in quoted.split()]))
                tree.remember(shape, cluster)
            else:
                tree.clusters.move_to_end(cluster.id)
            tree.remember(fine, cluster)
        else:
            tree.clusters.move_to_end(cluster.id)
        return self._count(service, tree, cluster, text, ts, tenant)

    def _count(
        self,
        service: str,
        tree: ServiceTree,
        cluster: Cluster,
        text: str,
        ts: float,
        tenant: str | None,
    ) -> Cluster:
        """Count one line of ``cluster`` (and of ``tenant``) at event time ``ts``."""
        count = cluster.count
        if count == 0:
            cluster.first_seen = cluster.last_seen = ts
            cluster.example = text[: self.example_len]
            if tree.start is None or ts < tree.start:
                tree.start = ts
            self._dirty_services.add(service)
        elif ts > cluster.last_seen:
            cluster.last_seen = ts
        cluster.count = count + 1
        if tenant is not None:
            seen = cluster.tenants.get(tenant)
            if seen is None:
                cluster.tenants[tenant] = [1, ts, ts, text[: self.example_len]]
            else:
                seen[0] += 1
                if ts > seen[2]:
                    seen[2] = ts
        self._dirty[cluster] = service
        if tree.gone:
            self._evicted(service, tree)
        return cluster

    def _evicted(self, service: str, tree: ServiceTree) -> None:
        for cluster in [c for c in self._dirty if not c.alive]:
            del self._dirty[cluster]
        self._gone.extend(cluster_key(service, pid) for pid in tree.gone)
        tree.gone.clear()
        self._dirty_services.add(service)

    def lookup(self, service: str, message: str | bytes) -> str:
        """The pattern id ``message`` has in this miner's clusters, changing nothing: for a
        reader that follows a miner's state (a sink). A message no cluster takes gets the id
        a new cluster would get from it (``pattern_id(service, masked tokens)``)."""
        text = message if isinstance(message, str) else self._decode(message)
        text = text[: self.max_line]
        if not text.isascii():
            text = self._clean(text)
        tokens = self.masker.tokens(text)
        tree = self.trees.get(service)
        cluster = tree.find(tokens) if tree is not None else None
        return cluster.id if cluster is not None else pattern_id(service, tokens)

    def _decode(self, raw: bytes) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.invalid_utf8 += 1
            return raw.decode("utf-8", "replace")

    def _clean(self, text: str) -> str:
        """``text`` with lone surrogates replaced (counted), safe for any JSON encoder."""
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            self.invalid_utf8 += 1
            return text.encode("utf-8", "replace").decode("utf-8")
        return text

    @property
    def evicted(self) -> int:
        """Clusters evicted over all services (the bound per service was reached)."""
        return sum(t.evicted for t in self.trees.values())

    # ---- durability --------------------------------------------------------------------------
    def collect(self) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
        """Changed entries ``(key, state)`` and keys to delete, since the last call."""
        entries = [(cluster_key(s, c.id), c.to_state()) for c, s in self._dirty.items()]
        for service in sorted(self._dirty_services):
            tree = self.trees.get(service)
            if tree is not None:
                entries.append((service_key(service), _tree_state(tree)))
        gone = self._gone
        self._dirty, self._dirty_services, self._gone = {}, set(), []
        return entries, gone

    def restore(self, key: str, state: Mapping[str, Any]) -> None:
        """Load one changelog entry written by :meth:`collect`."""
        if key.startswith(SERVICE_PREFIX):
            tree = self.tree(key[len(SERVICE_PREFIX) :])
            tree.start = state.get("start")
            tree.evicted = int(state.get("evicted", 0))
            tree.created = max(tree.created, int(state.get("created", 0)))
        elif key.startswith(CLUSTER_PREFIX):
            service, _, _pid = key[len(CLUSTER_PREFIX) :].rpartition("|")
            self.tree(service).restore([Cluster.from_state(state)])

    def to_state(self) -> dict[str, Any]:
        """The whole miner as JSON-compatible state."""
        return {
            "services": {
                name: {
                    **_tree_state(tree),
                    "clusters": [c.to_state() for c in tree.clusters.values()],
                }
                for name, tree in self.trees.items()
            },
            "truncated": self.truncated,
            "invalid_utf8": self.invalid_utf8,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any], **options: Any) -> PatternMiner:
        """Rebuild from :meth:`to_state` output (``options`` as for the constructor)."""
        miner = cls(**options)
        for name, svc in state.get("services", {}).items():
            miner.restore(service_key(name), svc)
            miner.tree(name).restore([Cluster.from_state(c) for c in svc.get("clusters", ())])
        miner.truncated = int(state.get("truncated", 0))
        miner.invalid_utf8 = int(state.get("invalid_utf8", 0))
        return miner

    # ---- reads -------------------------------------------------------------------------------
    def patterns(
        self, service: str | None = None, since: float | None = None
    ) -> Iterator[tuple[str, Cluster]]:
        """``(service, cluster)`` of ``service`` (all services: None), last seen at or after
        ``since``."""
        names = list(self.trees) if service is None else [service]
        for name in names:
            tree = self.trees.get(name)
            if tree is None:
                continue
            for cluster in tree.clusters.values():
                if since is None or cluster.last_seen >= since:
                    yield name, cluster


def _tree_state(tree: ServiceTree) -> dict[str, Any]:
    return {"start": tree.start, "evicted": tree.evicted, "created": tree.created}
