"""Drain-style template clusters of one service: a prefix tree over masked tokens (pure).

Messages are grouped by token count and their first ``depth`` tokens (a token holding a slot,
like ``<NUM>`` or ``id=<NUM>``, routes to ``<*>``); within a leaf, a message joins the cluster
whose template it matches best when at least ``sim`` of its positions agree (a ``<*>`` position
agrees with anything), ties to the oldest cluster; positions that differ become ``<*>``.
Otherwise it starts a new cluster.

Better than plain Drain on near twins (``lock X acquired by ...`` / ``lock X released by ...``):
a cluster that has held a word at a position for ``settled`` lines (default 10) does not take a
message with another word there; a variable word (a user name) turns into ``<*>`` long before.

Ids: a cluster's id is a hash of (service, the template it was created with), issued once and
kept when the template generalises later. The same messages in the same order give the same
ids (a replay), a cluster evicted and created again from the same first template gets its old
id back, and the same template mined on another worker gets the same id. Should two clusters of
a service hash alike, the later one gets a numbered suffix in the hash input (deterministic).

Two memos make a known message a dict lookup: by shape (the message with its digits as ``0``,
or its token tails from a digit on as ``0``, :mod:`patterns.masking`: messages of one shape
mask alike but for the type of a slot) and by masked tokens. They are derived state, bounded,
and not persisted: after a restore the tree answers instead, with the same clusters.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from hashlib import blake2b
from typing import Any

WILD = "<*>"


def pattern_id(service: str, template: tuple[str, ...], salt: int = 0) -> str:
    """The stable id of a template first seen in ``service`` (16 hex digits)."""
    text = service + "\x1f" + " ".join(template) + (f"\x1f{salt}" if salt else "")
    return blake2b(text.encode("utf-8", "replace"), digest_size=8).hexdigest()


@dataclass(slots=True, eq=False)
class Cluster:
    """One template of a service: its id, tokens, leaf key and statistics.

    ``tenants`` keeps the same statistics per tenant whose lines joined the cluster (``[count,
    first_seen, last_seen, example]``), so a caller is shown only its own tenants' counts and
    example lines.
    """

    id: str
    template: list[str]
    key: tuple[Any, ...]
    seq: int = 0
    count: int = 0
    first_seen: float = 0.0
    last_seen: float = 0.0
    example: str = ""
    alive: bool = True
    tenants: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The template as one string."""
        return " ".join(self.template)

    def to_state(self) -> dict[str, Any]:
        """JSON-compatible state."""
        return {
            "id": self.id,
            "t": self.template,
            "k": list(self.key),
            "s": self.seq,
            "n": self.count,
            "f": self.first_seen,
            "l": self.last_seen,
            "x": self.example,
            **({"T": self.tenants} if self.tenants else {}),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Cluster:
        """Rebuild from :meth:`to_state` output."""
        return cls(
            id=str(state["id"]),
            template=[str(t) for t in state["t"]],
            key=tuple(state["k"]),
            seq=int(state.get("s", 0)),
            count=int(state["n"]),
            first_seen=float(state["f"]),
            last_seen=float(state["l"]),
            example=str(state.get("x", "")),
            tenants={str(t): list(seen) for t, seen in (state.get("T") or {}).items()},
        )


class ServiceTree:
    """The clusters of one service, at most ``max_clusters`` (least recently used evicted)."""

    __slots__ = (
        "clusters",
        "created",
        "depth",
        "evicted",
        "gone",
        "leaves",
        "max_clusters",
        "max_memo",
        "memo",
        "service",
        "settled",
        "shapes",
        "sim",
        "start",
    )

    def __init__(
        self,
        service: str,
        *,
        max_clusters: int = 1000,
        sim: float = 0.6,
        depth: int = 1,
        settled: int = 10,
        max_memo: int = 20_000,
    ) -> None:
        self.service = service
        self.settled = settled
        self.max_clusters = max_clusters
        self.sim = sim
        self.depth = depth
        self.max_memo = max_memo
        self.clusters: OrderedDict[str, Cluster] = OrderedDict()  # least recently used first
        self.leaves: dict[tuple[Any, ...], list[Cluster]] = {}
        self.memo: dict[tuple[str, ...], Cluster] = {}
        self.shapes: dict[bytes, Cluster] = {}  # message shape (fine or coarse) -> cluster
        self.evicted = 0
        self.gone: list[str] = []  # ids evicted since the owner last looked
        self.created = 0
        self.start: float | None = None  # event time of the service's first line

    def leaf_key(self, tokens: tuple[str, ...]) -> tuple[Any, ...]:
        """Where ``tokens`` live in the tree: their count and first tokens (slots as ``<*>``)."""
        head = tuple(WILD if "<" in t else t for t in tokens[: self.depth])
        return (len(tokens), *head)

    def match(self, tokens: tuple[str, ...]) -> Cluster:
        """The cluster of ``tokens``, updated (template generalised) or created."""
        cluster = self.memo.get(tokens)
        if cluster is not None and cluster.alive:
            self.clusters.move_to_end(cluster.id)
            return cluster
        key = self.leaf_key(tokens)
        leaf = self.leaves.get(key)
        cluster = self._best(leaf, tokens) if leaf else None
        if cluster is None:
            cluster = self._create(key, tokens)
        else:
            template = cluster.template
            for i, tok in enumerate(tokens):
                if template[i] != tok:
                    template[i] = WILD
            self.clusters.move_to_end(cluster.id)
        if len(self.memo) >= self.max_memo:
            self.memo.clear()
        self.memo[tokens] = cluster
        return cluster

    def remember(self, shape: bytes, cluster: Cluster) -> None:
        """Remember the cluster of a message shape (bounded like the memo)."""
        if len(self.shapes) >= 4 * self.max_memo:
            self.shapes.clear()
        self.shapes[shape] = cluster

    def find(self, tokens: tuple[str, ...]) -> Cluster | None:
        """The cluster ``tokens`` would join, or None; changes nothing."""
        cluster = self.memo.get(tokens)
        if cluster is not None and cluster.alive:
            return cluster
        leaf = self.leaves.get(self.leaf_key(tokens))
        return self._best(leaf, tokens) if leaf else None

    def _best(self, leaf: list[Cluster], tokens: tuple[str, ...]) -> Cluster | None:
        need = self.sim * len(tokens)
        settled = self.settled
        best: Cluster | None = None
        best_score = -1
        for cluster in leaf:
            same = 0
            firm = settled and cluster.count >= settled
            for a, b in zip(cluster.template, tokens, strict=True):
                if a in (b, WILD):
                    same += 1
                elif firm and "<" not in a and "<" not in b:
                    same = -1  # two words where the cluster has held one word for long
                    break
            if same >= need and same > best_score:
                best, best_score = cluster, same
        return best

    def _create(self, key: tuple[Any, ...], tokens: tuple[str, ...]) -> Cluster:
        salt = 0
        cid = pattern_id(self.service, tokens)
        while cid in self.clusters:
            salt += 1
            cid = pattern_id(self.service, tokens, salt)
        while len(self.clusters) >= self.max_clusters:
            _, old = self.clusters.popitem(last=False)
            self._unlink(old)
            self.evicted += 1
            self.gone.append(old.id)
        self.created += 1
        cluster = Cluster(cid, list(tokens), key, self.created)
        self.add(cluster)
        return cluster

    def add(self, cluster: Cluster) -> None:
        """Insert a new cluster as the most recently used."""
        self.clusters[cluster.id] = cluster
        self.leaves.setdefault(cluster.key, []).append(cluster)

    def restore(self, clusters: list[Cluster]) -> None:
        """Insert restored clusters: use order by last seen, leaves in creation order."""
        for cluster in sorted(clusters, key=lambda c: (c.last_seen, c.seq)):
            old = self.clusters.pop(cluster.id, None)
            if old is not None:
                self._unlink(old)
            self.add(cluster)
            self.created = max(self.created, cluster.seq)
        for leaf in self.leaves.values():
            leaf.sort(key=lambda c: c.seq)
        self.memo.clear()
        self.shapes.clear()

    def _unlink(self, cluster: Cluster) -> None:
        cluster.alive = False
        leaf = self.leaves.get(cluster.key)
        if leaf is not None:
            leaf.remove(cluster)
            if not leaf:
                del self.leaves[cluster.key]
