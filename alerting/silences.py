"""Silences: Alertmanager-style label matchers over a wall-time interval (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from alerting.labels import Matcher, MatchOp, matches_all


@dataclass(frozen=True, slots=True)
class Silence:
    """Alertmanager-style silence: label matchers over ``[starts_at, ends_at)`` wall time."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    created_by: str = ""
    comment: str = ""

    def __post_init__(self) -> None:
        if not self.matchers:
            raise ValueError(f"silence {self.id!r}: give at least one matcher")
        if self.ends_at <= self.starts_at:
            raise ValueError(f"silence {self.id!r}: ends_at must be after starts_at")

    def active(self, now: float) -> bool:
        """True while ``starts_at <= now < ends_at``."""
        return self.starts_at <= now < self.ends_at

    def matches(self, labels: Mapping[str, str]) -> bool:
        """True if every matcher matches ``labels``."""
        return matches_all(self.matchers, labels)

    def to_state(self) -> dict[str, Any]:
        """JSON-compatible form (matchers as ``[label, op, value]``)."""
        return {
            "id": self.id,
            "matchers": [[m.label, m.op.value, m.value] for m in self.matchers],
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "created_by": self.created_by,
            "comment": self.comment,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Silence:
        """Rebuild from :meth:`to_state` output."""
        matchers = tuple(Matcher(lbl, MatchOp(op), val) for lbl, op, val in state["matchers"])
        return cls(
            str(state["id"]),
            matchers,
            float(state["starts_at"]),
            float(state["ends_at"]),
            str(state.get("created_by", "")),
            str(state.get("comment", "")),
        )


def silencing(
    labels: Mapping[str, str], silences: Iterable[Silence], now: float
) -> tuple[str, ...]:
    """Sorted ids of the silences active at wall time ``now`` that match ``labels``."""
    return tuple(sorted(s.id for s in silences if s.active(now) and s.matches(labels)))
